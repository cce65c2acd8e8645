# ccMIM, ViT-B/16 on unlabeled COCO train2017 (118k scene images), 800 epochs
# (about 92k iterations at batch 1024).
_base_ = [
    '../_base_/models/ccmim_vit-base-p16.py',
    '../_base_/datasets/coco_ccmim.py',
    '../_base_/schedules/adamw_coslr_ccmim.py',
]

max_epochs = 800
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, by_epoch=True, begin=40,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
