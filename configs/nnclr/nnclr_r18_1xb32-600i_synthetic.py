# Small CPU variant of nnclr_r50_16xb256-coslr-1000e_coco.py for the demo and
# the tests: ResNet-18 (BN), 64 px views of the embedded synthetic scenes,
# 600 iterations of batch 32, LARS lr 0.3 x 32 / 256. The support set holds 8
# batches (the 2000-image dataset would otherwise be mostly stale embeddings
# of a fast-moving encoder).
_base_ = ['./nnclr_r50_16xb256-coslr-1000e_coco.py', '../_base_/schedules/synthetic_600i.py']

model = dict(
    queue_len=256,
    feat_dim=128,
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=512, out_channels=128, norm_cfg=dict(type='BN1d')),
    predictor=dict(in_channels=128, hid_channels=1024, out_channels=128,
                   norm_cfg=dict(type='BN1d')))

data_root = 'data/synthetic_scenes/'
_crop = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='images/train/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=[1, 1], transforms=[
                _crop + [dict(type='Compose', transforms={{_base_.byol_view1_pipeline}})],
                _crop + [dict(type='Compose', transforms={{_base_.byol_view2_pipeline}})],
            ]),
            dict(type='PackInputs'),
        ]))

optim_wrapper = dict(optimizer=dict(lr=0.3 * 32 / 256))
# The 600-iteration CPU schedule: configs/_base_/schedules/synthetic_600i.py.
param_scheduler = _base_.synthetic_600i.param_scheduler
train_cfg = _base_.synthetic_600i.train_cfg
default_hooks = _base_.synthetic_600i.default_hooks
log_processor = _base_.synthetic_600i.log_processor
randomness = _base_.synthetic_600i.randomness
