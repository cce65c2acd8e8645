# DetCon_S on ImageNet-1k, 1000 epochs at batch 4096 (16 x 256): SimCLR's
# augmentation (symmetric views) with FH masks (scale 1000, min_size 1000).
_base_ = [
    '../_base_/models/detcon-s_r50.py',
    '../_base_/datasets/imagenet_detcon.py',
    '../_base_/schedules/lars_coslr_detcon.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))
