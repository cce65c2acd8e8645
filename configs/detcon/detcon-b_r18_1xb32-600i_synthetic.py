# Small CPU variant of detcon-b_r50_16xb256-coslr-1296e_coco.py: the data and
# schedule of detcon-s_r18_1xb32-600i_synthetic.py with DetCon_B's networks
# (ResNet-18, projector 512-1024-128, predictor 128-1024-128) and BYOL's views.
_base_ = './detcon-s_r18_1xb32-600i_synthetic.py'

model = dict(
    _delete_=True,
    type='DetConB',
    num_samples=16,
    base_momentum=0.004,
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=1024, out_channels=128,
              num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=False,
              norm_cfg=dict(type='BN1d')),
    predictor=dict(type='NonLinearNeck', in_channels=128, hid_channels=1024, out_channels=128,
                   num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=False,
                   norm_cfg=dict(type='BN1d')),
    loss=dict(type='DetConLoss', temperature=0.1))
# BYOL's optimisation (DetCon §3), not the DetCon_S base's SimCLR values.
optim_wrapper = dict(optimizer=dict(lr=0.2 * 32 / 256, weight_decay=1.5e-6))
data_root = 'data/synthetic_scenes/'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadFHMasks', mask_dir=data_root + 'fh_masks/train/',
         img_dir=data_root + 'images/train/'),
    dict(type='DetConViews', size=64, crop_scale=(0.2, 1.0),
         view_pipelines={{_base_.byol_view_pipelines}}),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]))
