# DetCon_B's optimisation (BYOL's, DetCon §3): LARS, lr 0.2 x B / 256 (3.2 at
# B = 4096 = 16 x 256), weight decay 1.5e-6 (DetCon_S configs set SimCLR's
# lr 0.3 x B / 256 and 1e-6 over it), biases and norm layers excluded from both weight decay
# and LARS adaptation, 10 warm-up epochs then cosine. Epoch counts are set by
# the configs (max_epochs and the cosine's T_max/end). Epoch-based, so this
# file also adapts the runtime (checkpoints and logs by epoch): configs list it
# instead of default_runtime.py.
_base_ = '../default_runtime.py'
optim_wrapper = dict(
    type='OptimWrapper',
    # SyncFreeLARS: mmpretrain's LARS without a host read per layer (same update).
    optimizer=dict(type='SyncFreeLARS', lr=3.2, momentum=0.9, weight_decay=1.5e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            # the BN of a ResNet downsample branch is named downsample.1
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))
max_epochs = 1000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(base_batch_size=4096)
