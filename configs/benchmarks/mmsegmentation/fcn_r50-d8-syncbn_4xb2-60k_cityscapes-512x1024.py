# DetCon's Cityscapes protocol: FCN (dilated ResNet-50, output stride 8) on
# train_fine, 160 epochs (2975 images / 8 per step: 60k iterations), mIoU on
# val_fine; plain ResNet backbone with SyncBN as the VOC config.
# DetCon (ImageNet 1000 epochs, Table 1): DetCon_B 77.0 mIoU (BYOL 74.6).
_base_ = [
    'mmseg::fcn/fcn_r50-d8_4xb2-80k_cityscapes-512x1024.py',
    '../../_base_/checkpoint_match.py',
]
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

custom_imports = dict(imports=['mmssl_ext.models', 'mmssl_ext.engine'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')))

max_iters = 60000
train_cfg = dict(max_iters=max_iters, val_interval=6000)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=6000))
