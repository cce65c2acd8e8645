# DetCon_S with a 10 x 10 spatial grid of masks instead of FH (paper §3, Figure 7;
# 5x5 is the best grid there).
_base_ = './detcon-s_r50_16xb256-coslr-1296e_coco.py'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='GridMasks', grid_size=10),
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines={{_base_.simclr_view_pipeline}}),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]))
