# DetCon's PASCAL protocol: FCN (dilated ResNet-50, output stride 8) on VOC
# 2012 train_aug, 45 epochs (10582 images / 16 per step: 30k iterations),
# mIoU on val 2012. The backbone is mmseg's plain ResNet (torchvision layout,
# as our pretraining ResNets; mmseg's default ResNetV1c has a deep stem that
# pretrained weights do not fit), SyncBN, all stages fine-tuned. The weights
# come from one place, the backbone's init_cfg:
#
#   mim train mmsegmentation \
#       configs/benchmarks/mmsegmentation/fcn_r50-d8-syncbn_4xb4-30k_voc12aug-512x512.py \
#       --launcher pytorch -G 4 --cfg-options model.backbone.init_cfg.checkpoint=CKPT
#   bash tools/benchmarks/mmsegmentation/mim_dist_train.sh CONFIG CKPT 4
#
# DetCon (ImageNet 1000 epochs, Table 1): DetCon_B 77.3 mIoU (BYOL 75.7).
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py', '../../_base_/checkpoint_match.py']
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

max_iters = 30000
train_cfg = dict(max_iters=max_iters, val_interval=3000)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=3000))
