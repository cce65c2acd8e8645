# LooC with colour and rotation groups on ImageNet-100 (the paper's setting):
# MoCo's optimisation as the paper states it: SGD lr 0.03 for batch 256, 500
# epochs, the lr multiplied by 0.1 at epochs 300 and 400 (see recipe.yml).
_base_ = [
    '../_base_/models/looc_r50.py',
    '../_base_/datasets/imagenet100_looc.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='MultiStepLR', milestones=[300, 400], gamma=0.1, by_epoch=True, begin=0, end=500)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=500)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(base_batch_size=256)
