# DiLo-MoCo v2 on ImageNet-1k, 200 epochs (the paper's MoCo v2 row): the
# baseline ../mocov2/mocov2_r50_8xb32-coslr-200e_in1k.py (same model, SGD and
# schedule, repeated below) with DiLo's views and maps under
# data/imagenet/saliency/train/.
_base_ = [
    '../_base_/models/mocov2_r50.py',
    '../_base_/datasets/imagenet_dilo.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(base_batch_size=256)
