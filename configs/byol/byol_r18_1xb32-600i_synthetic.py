# mmpretrain's BYOL (the model of its byol_resnet50_16xb256-coslr-200e_in1k.py), the
# baseline of DetCon_B, at the budget of ../detcon/detcon-b_r18_1xb32-600i_synthetic.py:
# ResNet-18, the same projector (512-1024-128) and predictor (128-1024-128), 64 px
# views of the embedded synthetic scenes, batch 32, the same LARS schedule and
# BYOL's asymmetric photometric transforms. Two MultiView crops instead of
# DetCon's aligned views and masks. DetCon_B's pair in docs/en/benchmarks.md.
_base_ = '../detcon/detcon-b_r18_1xb32-600i_synthetic.py'

model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum=0.004,
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=1024, out_channels=128,
              num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(type='LatentPredictHead', loss=dict(type='CosineSimilarityLoss'),
              predictor=dict(type='NonLinearNeck', in_channels=128, hid_channels=1024,
                             out_channels=128, num_layers=2, with_bias=True,
                             with_last_bn=False, with_avg_pool=False,
                             norm_cfg=dict(type='BN1d'))))

_crop = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
]
# DetCon_B's photometric transforms (_base_/datasets/coco_detcon.py), per view
view_pipelines = [
    _crop + [dict(type='Compose', transforms={{_base_.byol_view1_pipeline}})],
    _crop + [dict(type='Compose', transforms={{_base_.byol_view2_pipeline}})],
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=view_pipelines),
    dict(type='PackInputs'),
]))

# The baseline keeps mmpretrain's LARS (its DetCon base uses SyncFreeLARS,
# the same update without a host read per layer).
optim_wrapper = dict(optimizer=dict(type='LARS'))
