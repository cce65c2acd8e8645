# LooC (Xiao et al., 2021) on MoCo v2: ResNet-50, one MoCo v2 projection head
# (2048-2048-128) per embedding space, a queue of 16384 keys per space,
# temperature 0.2, key encoder momentum 0.999 (mmengine's 0.001).
model = dict(
    type='LooC',
    num_groups=2,  # colour and rotation: spaces 0 (all-invariant), 1, 2
    queue_len=16384,
    feat_dim=128,
    momentum=0.001,
    loss=dict(type='QueueInfoNCELoss', temperature=0.2),
    concat_spaces=False,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_avg_pool=True))
