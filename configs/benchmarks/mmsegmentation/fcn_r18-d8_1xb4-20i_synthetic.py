# CPU variant of fcn_r50-d8-syncbn_4xb4-30k_voc12aug-512x512.py for the tests:
# ResNet-18 (as the synthetic pretraining configs), the embedded synthetic
# scenes' semantic maps (background + 8 shape/texture classes), 64 px crops,
# 20 iterations of batch 4. SyncBN becomes BN when not distributed.
_base_ = './fcn_r50-d8-syncbn_4xb4-30k_voc12aug-512x512.py'

crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128, num_classes=9),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=9))

data_root = 'data/synthetic_scenes/'
metainfo = dict(classes=('background', 'disc_stripes', 'square_checks', 'triangle_dots',
                         'star_rings', 'cross_waves', 'ring_grid', 'hexagon_solid',
                         'crescent_zigzag'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='images/train', seg_map_path='seg/train'),
                 img_suffix='.png', seg_map_suffix='.png', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='images/val', seg_map_path='seg/val'),
                 img_suffix='.png', seg_map_suffix='.png', pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 20
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iters))
