# DetCon_S on ImageNet-1k, 1000 epochs at batch 4096 (16 x 256): SimCLR's
# augmentation (symmetric views) with FH masks (scale 1000, min_size 1000).
_base_ = [
    '../_base_/models/detcon-s_r50.py',
    '../_base_/datasets/imagenet_detcon.py',
    '../_base_/schedules/lars_coslr_detcon.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))
# DetCon §3: DetCon_S takes SimCLR's optimisation (the schedule base is BYOL's,
# DetCon_B's): LARS lr 0.3 x B / 256 (4.8 at 4096), weight decay 1e-6.
optim_wrapper = dict(optimizer=dict(lr=0.3 * 4096 / 256, weight_decay=1e-6))
