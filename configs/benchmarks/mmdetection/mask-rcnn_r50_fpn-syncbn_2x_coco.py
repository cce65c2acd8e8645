# DetCon's protocol, 2x schedule (24 epochs, lr steps at 16 and 22).
# DetCon (ImageNet 1000 epochs): DetCon_S 42.9 AP^bb / 38.1 AP^mk (2x),
# DetCon_B 43.4 / 38.7.
_base_ = './mask-rcnn_r50_fpn-syncbn_1x_coco.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22],
         gamma=0.1)
]
