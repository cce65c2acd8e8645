# DINO (Caron et al., 2021) with ViT-S/16 (mmpretrain's 'deit-small': 384-d,
# 12 layers, 6 heads), stochastic depth 0.1 in the student only, the class
# token as the image feature. Head 384-2048-2048-256 (GELU, no BN), K = 65536,
# output layer weight-normalised with its norm fixed. Teacher: momentum
# 0.996 -> 1 (cosine); temperature 0.04 -> 0.07 over 30 epochs; student 0.1;
# center momentum 0.9; output layer frozen during epoch 0; each parameter's
# gradient norm clipped at 3.0 (the official utils.clip_gradients).
model = dict(
    type='DINO',
    backbone=dict(type='VisionTransformer', arch='deit-small', patch_size=16, img_size=224,
                  drop_path_rate=0.1, out_type='cls_token', interpolate_mode='bicubic'),
    neck=dict(type='DINONeck', in_channels=384, out_channels=65536, hidden_channels=2048,
              bottleneck_channels=256, use_bn=False, norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=65536, student_temp=0.1, center_momentum=0.9),
    num_global_views=2,
    momentum=0.004,
    end_momentum=0.,
    warmup_teacher_temp=0.04,
    teacher_temp=0.07,
    teacher_temp_warmup=30,
    freeze_last_layer=1,
    clip_grad_per_param=3.0,
    by_epoch=True)
