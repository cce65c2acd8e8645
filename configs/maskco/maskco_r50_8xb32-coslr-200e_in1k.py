# MaskCo on ImageNet-1k train images, 200 epochs (the paper's Table 3 setting),
# SGD lr 0.03 per 256, wd 1e-3, cosine by epoch.
_base_ = [
    '../_base_/models/maskco_r50.py',
    '../_base_/datasets/imagenet_maskco.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-3, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(base_batch_size=256)
