# DetCon_S with a 4 x 4 spatial grid of masks instead of FH (the paper's
# spatial heuristic; GridMasks(grid_size=1) is SimCLR).
_base_ = './detcon-s_r50_16xb256-coslr-1296e_coco.py'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='GridMasks', grid_size=4),
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0),
         view_pipelines={{_base_.simclr_view_pipeline}}),
    dict(type='PackInputs', algorithm_keys=['view_ids']),
]))
