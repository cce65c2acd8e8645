# DetCon's detection protocol: Mask R-CNN R50-FPN on COCO, 1x (12 epochs),
# SyncBN in the backbone, the FPN and the heads (4conv1fc box head, mask head),
# every stage fine-tuned (frozen_stages=-1, norm_eval=False), as the
# detectron2 configs of MoCo and DetCon. The pretrained weights come from one
# place, the backbone's init_cfg (a pretraining checkpoint or one made by
# tools/model_converters/extract_backbone.py):
#
#   mim train mmdet configs/benchmarks/mmdetection/mask-rcnn_r50_fpn-syncbn_1x_coco.py \
#       --launcher pytorch -G 8 --cfg-options model.backbone.init_cfg.checkpoint=CKPT
#   bash tools/benchmarks/mmdetection/mim_dist_train.sh CONFIG CKPT 8
#
# DetCon (ImageNet 1000 epochs): DetCon_S 41.8 AP^bb / 37.4 AP^mk (1x),
# DetCon_B 42.7 / 38.2; supervised 39.6 / 35.6 (1x).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../../_base_/checkpoint_match.py']
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

custom_imports = dict(imports=['mmssl_ext.models', 'mmssl_ext.engine'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(_delete_=True, type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                       norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

# mmdet's schedule at 16 images per step (8 GPUs x 2); scaled with --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=16)
