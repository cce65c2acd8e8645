# DINO's ViT optimisation: AdamW, lr 0.0005 x B / 256 (0.001 at B = 512 =
# 8 x 64), 10 linear warm-up epochs then cosine to 1e-6, weight decay cosine
# from 0.04 up to 0.4 (biases and norm layers not decayed). Gradients are
# clipped per parameter at norm 3 by the model (DINO.clip_grad_per_param, the
# official utils.clip_gradients), not here: clip_grad would clip the global
# norm. Epoch counts are set by the configs. Epoch-based, so this file
# also adapts the runtime: configs list it instead of default_runtime.py.
_base_ = '../default_runtime.py'
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.001, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-6, by_epoch=True,
         begin=10, end=max_epochs, convert_to_iter_based=True),
    # ratio 10: 0.04 -> 0.4, and groups without decay stay at 0
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.,
         T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(base_batch_size=512)
