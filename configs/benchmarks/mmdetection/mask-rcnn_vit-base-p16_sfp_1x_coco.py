# ccMIM's COCO protocol (after CAE): Mask R-CNN on a ViT-B/16 with a simple
# feature pyramid (ViTDet's, strides 4-64 from the stride-16 map), 1x
# schedule, multi-scale training (short side 480-800, long side <= 1333),
# batch 32, AdamW lr 3e-4 with layer-wise decay 0.75 (our constructor:
# mmpretrain's asks the model for get_layer_depth, which detectors lack),
# drop path 0.1 (the paper's ViT-S value; its text is cut before ViT-B's).
#
#   bash tools/benchmarks/mmdetection/mim_dist_train.sh CONFIG CKPT 8
#
# ccMIM: +3.7 AP^bb / +2.5 AP^mk over MAE after 300 pretraining epochs,
# +2.5 / +1.9 after 800.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../../_base_/checkpoint_match.py']
env_cfg = _base_.collective_timeout  # our collective timeout (checkpoint_match.py)

custom_imports = dict(
    imports=['mmssl_ext.models', 'mmssl_ext.engine', 'mmssl_ext.models.detection'],
    allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',  # its pos_embed follows the input size
        arch='b',
        img_size=1024,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        final_norm=True,
        init_cfg=dict(type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')),
    neck=dict(_delete_=True, type='SimpleFeaturePyramid', in_channels=768, out_channels=256,
              norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                       norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, s) for s in range(480, 801, 32)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.75))
auto_scale_lr = dict(enable=False, base_batch_size=32)
