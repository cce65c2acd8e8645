# Linear probe on frozen ResNet-50 conv5 features (global average pool), the
# MoCo/MaskCo protocol as mmpretrain's MoCo v2 benchmark: SGD lr 30, no weight
# decay, 100 epochs, lr x 0.1 at 60 and 80, batch 256. The weights come from
# the backbone's init_cfg:
#
#   mim train mmpretrain \
#       configs/benchmarks/classification/resnet50-conv5_8xb32-linear-steplr-100e_in1k.py \
#       --launcher pytorch -G 8 --cfg-options model.backbone.init_cfg.checkpoint=CKPT
#   bash tools/benchmarks/classification/mim_dist_train.sh CONFIG CKPT 8
#
# MaskCo (ImageNet 200 epochs): 65.1 top-1 on conv5; pretrained on COCO: 56.7
# (MoCo v2 on COCO: 51.4).
_base_ = [
    'mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py',
    '../../_base_/checkpoint_match.py',
]
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

custom_imports = dict(imports=['mmssl_ext.models', 'mmssl_ext.engine'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')))
