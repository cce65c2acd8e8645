# DINO ResNet-50 on ImageNet, the official ResNet recipe: SGD, lr 0.03 x B / 256
# (0.06 at 8 x 64), weight decay 1e-4 held constant, global crops of area
# 0.14-1 and local crops 0.05-0.14, 100 epochs.
_base_ = [
    '../_base_/models/dino_r50.py',
    '../_base_/datasets/imagenet_dino.py',
    '../_base_/schedules/adamw_coslr_dino.py',
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.06, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, eta_min=1e-6, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiCrop', global_transforms={{_base_.dino_global_pipelines}},
         local_transforms={{_base_.dino_local_pipeline}}, num_local_crops=8, global_size=224,
         local_size=96, global_scale=(0.14, 1.0), local_scale=(0.05, 0.14)),
    dict(type='PackInputs'),
]))
