# DetCon_S on unlabeled COCO train2017 with FH masks ({500, 1000, 1500}),
# SimCLR's augmentation.
_base_ = [
    '../_base_/models/detcon-s_r50.py',
    '../_base_/datasets/coco_detcon.py',
    '../_base_/schedules/lars_coslr-1296e_detcon.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))
