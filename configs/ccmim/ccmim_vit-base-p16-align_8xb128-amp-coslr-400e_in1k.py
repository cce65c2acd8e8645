# Ablation (Fig. 4): L_align (SimSiam-style, 1 - cos(SG(h_M), p(h_V))) instead
# of L_NCE; p is SimSiam's predictor, 256-64-256 here (bottleneck 1/4, as
# SimSiam's 2048-512-2048), on the visible projection only.
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(
    loss=dict(_delete_=True, type='CosineSimilarityLoss', shift_factor=1.0,
              scale_factor=1.0),
    predictor=dict(type='NonLinearNeck', in_channels=256, hid_channels=64, out_channels=256,
                   num_layers=2, with_bias=False, with_last_bn=False, with_last_bias=True,
                   with_avg_pool=False, norm_cfg=dict(type='BN1d')))
