# Fine-tuning of a ViT-B/16 (ccMIM, MAE protocol): 100 epochs, AdamW lr 1e-3 at
# batch 1024 with layer-wise decay, RandAugment, mixup/cutmix, as mmpretrain's
# MAE benchmark; the average of the patch tokens feeds the head (as ccMIM and
# MAE fine-tuning).
#
#   bash tools/benchmarks/classification/mim_dist_train.sh CONFIG CKPT 8
#
# ccMIM: 83.6 top-1 after 300 pretraining epochs, 84.2 after 800 (MAE 82.8 / 83.6).
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/checkpoint_match.py',
]
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

custom_imports = dict(imports=['mmssl_ext.models', 'mmssl_ext.engine'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')))
