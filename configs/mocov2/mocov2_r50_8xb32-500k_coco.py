# MoCo v2 baseline on unlabeled COCO train2017 images: mmpretrain's MoCo v2,
# ResNet-50, 8 GPUs x 32, ~500k iterations (the budget MaskCo uses on COCO).
# Every method of mmssl_ext is compared against this config.
_base_ = [
    '../_base_/models/mocov2_r50.py',
    '../_base_/datasets/coco_mocov2.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
