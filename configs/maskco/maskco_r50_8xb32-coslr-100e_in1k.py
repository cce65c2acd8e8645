# MaskCo on ImageNet-1k for 100 epochs: the protocol of the paper's ablations
# (§4.4, Tables 4-6: ImageNet pretraining, results at 100 epochs); otherwise as
# the 200-epoch config (MPH 3 blocks, inter-image negatives, the mask).
_base_ = './maskco_r50_8xb32-coslr-200e_in1k.py'
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(max_epochs=100)
