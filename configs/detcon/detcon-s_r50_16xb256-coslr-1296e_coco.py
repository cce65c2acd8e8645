# DetCon_S on unlabeled COCO train2017 with FH masks ({500, 1000, 1500}),
# SimCLR's augmentation.
_base_ = [
    '../_base_/models/detcon-s_r50.py',
    '../_base_/datasets/coco_detcon.py',
    '../_base_/schedules/lars_coslr-1296e_detcon.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))
# DetCon §3: DetCon_S takes SimCLR's optimisation (the schedule base is BYOL's,
# DetCon_B's): LARS lr 0.3 x B / 256 (4.8 at 4096), weight decay 1e-6.
optim_wrapper = dict(optimizer=dict(lr=0.3 * 4096 / 256, weight_decay=1e-6))
