# ccMIM, ViT-B/16 on unlabeled COCO train2017 (118k scene images), 800 epochs
# (about 92k iterations at batch 1024).
_base_ = [
    '../_base_/models/ccmim_vit-base-p16.py',
    '../_base_/datasets/coco_ccmim.py',
    '../_base_/schedules/adamw_coslr-800e_ccmim.py',
]
