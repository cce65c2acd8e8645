# NNCLR (Dwibedi et al., 2021): ResNet-50, projection MLP 2048-2048-2048-256
# with BN, prediction MLP 256-4096-256, support set of 98304 projections,
# temperature 0.1 (the paper's).
model = dict(
    type='NNCLR',
    queue_len=98304,
    feat_dim=256,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=True),
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=256,
              num_layers=3, with_bias=False, with_last_bn=True, with_avg_pool=True,
              norm_cfg=dict(type='SyncBN')),
    predictor=dict(type='NonLinearNeck', in_channels=256, hid_channels=4096, out_channels=256,
                   num_layers=2, with_bias=False, with_last_bn=False, with_avg_pool=False,
                   norm_cfg=dict(type='SyncBN')),
    loss=dict(type='NNCLRLoss', temperature=0.1))
