# DetCon_S: ResNet-50 C5 -> mask pooling (16 ids per view) -> SimCLR projector
# (2048-2048-128 with BN) -> DetConLoss (tau 0.1). One network.
model = dict(
    type='DetConS',
    num_samples=16,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128,
              num_layers=2, with_avg_pool=False),
    loss=dict(type='DetConLoss', temperature=0.1))
