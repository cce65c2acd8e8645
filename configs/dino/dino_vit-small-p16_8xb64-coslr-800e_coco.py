# DINO ViT-S/16 on unlabeled COCO train2017: the ImageNet recipe
# (dino_vit-small-p16_8xb64-coslr-100e_in1k.py) for 800 COCO epochs
# (~185k iterations at batch 512, about 74 ImageNet epochs of steps).
_base_ = [
    '../_base_/models/dino_vit-small-p16.py',
    '../_base_/datasets/coco_dino.py',
    '../_base_/schedules/adamw_coslr_dino.py',
]
max_epochs = 800
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-6, by_epoch=True,
         begin=10, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.,
         T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
