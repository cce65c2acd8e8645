# CPU variant of faster-rcnn_r50-c4-syncbn_ms-24k_voc0712.py for the tests:
# ResNet-18 C4 (res5 head with the extra norm), the embedded synthetic scenes
# written as a VOC tree by tools/dataset_converters/coco_to_voc.py (train
# scenes in data/synthetic_voc/train/VOC2007, val scenes as its test split in
# data/synthetic_voc/val/VOC2007), 128 px, 20 iterations of batch 4, mmdet's
# VOC metric.
_base_ = './faster-rcnn_r50-c4-syncbn_ms-24k_voc0712.py'

classes = ('disc_stripes', 'square_checks', 'triangle_dots', 'star_rings', 'cross_waves',
           'ring_grid', 'hexagon_solid', 'crescent_zigzag')
model = dict(
    backbone=dict(depth=18),
    rpn_head=dict(in_channels=256),
    roi_head=dict(
        shared_head=dict(depth=18),
        bbox_roi_extractor=dict(out_channels=256),
        bbox_head=dict(in_channels=512, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, batch_sampler=None,
    dataset=dict(_delete_=True, type='VOCDataset', data_root='data/synthetic_voc/train/',
                 ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'), metainfo=dict(classes=classes),
                 filter_cfg=dict(filter_empty_gt=True, min_size=8), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='data/synthetic_voc/val/', metainfo=dict(classes=classes),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iter = 20
train_cfg = dict(max_iters=max_iter, val_interval=max_iter)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iter))
