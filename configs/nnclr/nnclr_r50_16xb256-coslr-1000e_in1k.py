# NNCLR on ImageNet as in the paper: ResNet-50, batch 4096 (16 x 256), LARS,
# 1000 epochs (10 of warm-up, then cosine), weight decay 1e-6, support set 98304.
# lr 4.8 = 0.3 x 4096 / 256 (SimCLR's LARS rule; --auto-scale-lr rescales it).
# The LARS + warm-up + cosine recipe is DetCon's schedule file, re-weighted here.
_base_ = [
    '../_base_/models/nnclr_r50.py',
    '../_base_/datasets/imagenet_nnclr.py',
    '../_base_/schedules/lars_coslr_detcon.py',
]
optim_wrapper = dict(optimizer=dict(lr=4.8, weight_decay=1e-6))
