# MAE's optimisation, as ccMIM uses it: AdamW (0.9, 0.95), weight decay 0.05
# (none on norms, biases, position embedding, CLS and mask tokens, the
# projector's BN: mmpretrain's MAE rule; the official timm-based code decays
# the CLS and mask tokens, see configs/ccmim/recipe.yml), base lr
# 1.5e-4 x B / 256 (6e-4 at the paper's B = 1024), 40 warm-up epochs, cosine,
# AMP. Epoch counts are set by the configs (max_epochs and the cosine's
# T_max/end). Epoch-based, so this file also adapts the runtime: configs list
# it instead of default_runtime.py.
_base_ = '../default_runtime.py'
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 1024 / 256, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            'mask_token': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'bn': dict(decay_mult=0.0),  # the projector's BatchNorm (1-d, as timm's rule)
        }))
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, by_epoch=True, begin=40,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=1, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=1024)
