# DINO with ResNet-50 (the official recipe's head for it: BN in the MLP,
# K = 60000), the average-pooled conv5 map as the image feature. Teacher and
# temperatures as for ViT-S/16 (dino_vit-small-p16.py).
model = dict(
    type='DINO',
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=False),
    neck=dict(type='DINONeck', in_channels=2048, out_channels=60000, hidden_channels=2048,
              bottleneck_channels=256, use_bn=True, norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=60000, student_temp=0.1, center_momentum=0.9),
    num_global_views=2,
    momentum=0.004,
    end_momentum=0.,
    warmup_teacher_temp=0.04,
    teacher_temp=0.07,
    teacher_temp_warmup=30,
    freeze_last_layer=1,
    by_epoch=True)
