# DINO ViT-S/16 on ImageNet: 100 epochs, 8 GPUs x 64, 2 x 224 + 8 x 96 crops
# (the official repository's default run; the paper's Table 2 row uses 300
# epochs and 10 local crops: set max_epochs and multi_crop.num_local_crops).
_base_ = [
    '../_base_/models/dino_vit-small-p16.py',
    '../_base_/datasets/imagenet_dino.py',
    '../_base_/schedules/adamw_coslr_dino.py',
]
