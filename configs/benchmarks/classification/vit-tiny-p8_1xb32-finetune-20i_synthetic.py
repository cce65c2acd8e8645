# CPU variant of vit-base-p16_8xb128-coslr-100e_in1k.py (fine-tuning with
# layer-wise lr decay, mixup/cutmix, label smoothing) for the tests: the
# 4-layer 96-d ViT of ccmim_vit-tiny-p8_1xb32-600i_synthetic.py, the synthetic
# scenes' image-level labels at 64 px, 20 iterations of batch 32.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'

data_preprocessor = dict(num_classes=8)
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3,
                            feedforward_channels=384),
                  img_size=64, patch_size=8),
    head=dict(num_classes=8, in_channels=96))

data_root = 'data/synthetic_scenes/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 ann_file='train.txt', data_prefix='', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 ann_file='val.txt', data_prefix='', pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 20
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)]
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False)
