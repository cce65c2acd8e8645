# lars_coslr_detcon.py for COCO: the paper trains COCO for 324-5184 epochs;
# 1296 sits in the middle of that range (~37k iterations at batch 4096).
_base_ = './lars_coslr_detcon.py'
max_epochs = 1296
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
