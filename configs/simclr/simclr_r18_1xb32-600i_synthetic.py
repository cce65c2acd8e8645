# mmpretrain's SimCLR (the model of its simclr_resnet50_16xb256-coslr-200e_in1k.py),
# the baseline of DetCon_S, at the budget of
# ../detcon/detcon-s_r18_1xb32-600i_synthetic.py: ResNet-18, 64 px views of the
# embedded synthetic scenes, batch 32, the same LARS schedule and photometric
# transforms. Two MultiView crops instead of DetCon's aligned views and masks.
# DetCon_S's pair in docs/en/benchmarks.md.
_base_ = '../detcon/detcon-s_r18_1xb32-600i_synthetic.py'

model = dict(
    _delete_=True,
    type='SimCLR',
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=512, out_channels=128,
              num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))

view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    # DetCon_S's photometric transforms (_base_/datasets/coco_detcon.py)
    dict(type='Compose', transforms={{_base_.simclr_view_pipeline}}),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]))

# The baseline keeps mmpretrain's LARS (its DetCon base uses SyncFreeLARS,
# the same update without a host read per layer).
optim_wrapper = dict(optimizer=dict(type='LARS'))
