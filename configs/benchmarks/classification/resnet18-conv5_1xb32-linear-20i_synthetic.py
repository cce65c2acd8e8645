# CPU variant of resnet50-conv5_8xb32-linear-steplr-100e_in1k.py for the tests:
# ResNet-18, the embedded synthetic scenes' image-level labels (class of the
# largest object; train.txt / val.txt), 64 px, 20 iterations of batch 32.
_base_ = './resnet50-conv5_8xb32-linear-steplr-100e_in1k.py'

model = dict(backbone=dict(depth=18), head=dict(num_classes=8, in_channels=512))

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
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_iters = 20
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)]
optim_wrapper = dict(optimizer=dict(lr=1.0))
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False)
