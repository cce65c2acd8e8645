# DetCon_B: BYOL's networks with the DetCon loss. Online: ResNet-50 C5 -> mask
# pooling -> projector 2048-4096-256 (BN) -> predictor 256-4096-256; target: a
# CosineEMA copy of backbone + projector. base_momentum is mmengine's (1 - tau):
# 0.004 is tau = 0.996, annealed to 1 over the run. Every residual block's last
# BN scale starts at zero, as in the official code (Haiku ResNet BlockV1, BYOL's).
model = dict(
    type='DetConB',
    num_samples=16,
    base_momentum=0.004,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=4096, out_channels=256,
              num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=False),
    predictor=dict(type='NonLinearNeck', in_channels=256, hid_channels=4096, out_channels=256,
                   num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=False),
    loss=dict(type='DetConLoss', temperature=0.1))
