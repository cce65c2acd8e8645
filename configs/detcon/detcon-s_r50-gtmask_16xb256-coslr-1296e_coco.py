# DetCon_S with COCO's ground-truth instance masks (the paper's "oracle"
# masks): the dataset keeps the annotations; no FH masks are needed.
_base_ = './detcon-s_r50_16xb256-coslr-1296e_coco.py'
train_dataloader = dict(dataset=dict(with_instances=True, pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='InstanceMasksToIds'),
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines={{_base_.simclr_view_pipeline}}),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]))
