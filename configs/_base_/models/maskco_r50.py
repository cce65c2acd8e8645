# MaskCo: ResNet-50 -> MPH (3 conv5-like bottlenecks) -> RoIAlign -> MoCo v2
# projection (2048-2048-128) -> InfoNCE (tau 0.2) against a 65536-key queue.
# momentum is mmengine's (1 - m): 0.001 is the paper's m = 0.999.
model = dict(
    type='MaskCo',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,
    loss=dict(type='QueueInfoNCELoss', temperature=0.2),
    feat_stride=32,
    roi_output_size=7,
    intra_negatives=False,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='MaskPredictionNeck', in_channels=2048, num_blocks=3, expansion=4),
    projector=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
                   with_avg_pool=False))
