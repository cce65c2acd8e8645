# MoCo's and MaskCo's VOC protocol: Faster R-CNN R50-C4 on VOC07+12 trainval,
# 24k iterations at batch 16 (lr 0.02, x 0.1 at 18k and 22k), multi-scale
# training (short side 480-800), SyncBN in the backbone and the res5 head with
# an extra norm after it (mmpretrain's ResLayerExtraNorm, MoCo's
# Res5ROIHeadsExtraNorm), every stage fine-tuned; AP50 and
# AP on VOC07 test. Pytorch-style ResNet and RGB mean/std, as our backbones.
#
#   mim train mmdet configs/benchmarks/mmdetection/faster-rcnn_r50-c4-syncbn_ms-24k_voc0712.py \
#       --launcher pytorch -G 8 --cfg-options model.backbone.init_cfg.checkpoint=CKPT \
#       model.roi_head.shared_head.init_cfg.checkpoint=CKPT
#   CHECKPOINT_KEYS=model.roi_head.shared_head.init_cfg.checkpoint \
#       bash tools/benchmarks/mmdetection/mim_dist_train.sh CONFIG CKPT 8
#
# MaskCo (ImageNet 200 epochs): 56.7 AP; pretrained on COCO: 55.6 (MoCo v2 55.0).
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py',
    '../../_base_/checkpoint_match.py',
]
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

# mmssl_ext.models imports mmpretrain's models, which register mmpretrain's
# ResLayerExtraNorm (the C4 head with the extra norm) into mmdet's registry.
custom_imports = dict(imports=['mmssl_ext.models', 'mmssl_ext.engine'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
pretrained_init = dict(type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                       prefix='backbone.')
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, style='pytorch',
                  init_cfg=dict(_delete_=True, **pretrained_init)),
    roi_head=dict(
        shared_head=dict(type='ResLayerExtraNorm', norm_cfg=norm_cfg, norm_eval=False,
                         style='pytorch', init_cfg=dict(_delete_=True, **pretrained_init))))

max_iter = 24000
train_cfg = dict(max_iters=max_iter, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iter, by_epoch=False, milestones=[18000, 22000],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
