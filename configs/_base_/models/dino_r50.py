# DINO with ResNet-50, as the official README's ResNet-50 run trains it
# (facebookresearch/dino main_dino.py defaults for what the command does not
# set): head 2048-2048-2048-256 (GELU, no BN), K = 65536, weight-normalised
# output with its norm fixed; teacher momentum 0.996 -> 1 (cosine), teacher
# temperature 0.04 (no warm-up), student 0.1, center momentum 0.9; output layer
# frozen during epoch 0; each parameter's gradient norm clipped at 3.0
# (utils.clip_gradients). The average-pooled conv5 map is the image feature.
model = dict(
    type='DINO',
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=False),
    neck=dict(type='DINONeck', in_channels=2048, out_channels=65536, hidden_channels=2048,
              bottleneck_channels=256, use_bn=False, norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=65536, student_temp=0.1, center_momentum=0.9),
    num_global_views=2,
    momentum=0.004,
    end_momentum=0.,
    warmup_teacher_temp=0.04,
    teacher_temp=0.04,
    teacher_temp_warmup=0,
    freeze_last_layer=1,
    clip_grad_per_param=3.0,
    by_epoch=True)
