# DenseCL (mmpretrain's implementation, Wang et al., CVPR 2021): MoCo v2 with a
# dense projection head and a dense InfoNCE over matched feature-map cells.
# ResNet-50; global and dense heads 2048-2048-128; two queues of 65536 keys;
# the total loss is (1 - loss_lambda) * global + loss_lambda * dense.
# momentum is mmengine's (1 - m): 0.001 here is the paper's m = 0.999.
# Taken by reference (model = _base_.densecl_r50) so that the synthetic
# config can take it beside the MoCo v2 synthetic config, which defines
# `model` too (mmengine refuses a key defined in two bases).
densecl_r50 = dict(
    type='DenseCL',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,
    loss_lambda=0.5,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    # num_grid=None: the dense head keeps the backbone's own grid (7 x 7 at
    # 224 px), which the cell matching indexes; another grid would not match.
    neck=dict(type='DenseCLNeck', in_channels=2048, hid_channels=2048, out_channels=128,
              num_grid=None),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
