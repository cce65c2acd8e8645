# DetCon_B on ImageNet-1k, 1000 epochs at batch 4096 (16 x 256), FH masks
# (scale 1000, min_size 1000), BYOL's augmentation and optimisation.
_base_ = [
    '../_base_/models/detcon-b_r50.py',
    '../_base_/datasets/imagenet_detcon.py',
    '../_base_/schedules/lars_coslr_detcon.py',
]
