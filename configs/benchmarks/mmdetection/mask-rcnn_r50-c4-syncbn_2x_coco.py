# MoCo's and MaskCo's COCO protocol: Mask R-CNN R50-C4, 2x schedule (24
# epochs), SyncBN in the backbone and the res5 head (plus its extra norm),
# every stage fine-tuned, pytorch-style ResNet with RGB mean/std.
#
#   CHECKPOINT_KEYS=model.roi_head.shared_head.init_cfg.checkpoint \
#       bash tools/benchmarks/mmdetection/mim_dist_train.sh CONFIG CKPT 8
#
# MaskCo (ImageNet 200 epochs): 40.8 AP^bb / 35.5 AP^mk.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py', '../../_base_/checkpoint_match.py']
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

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22],
         gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
