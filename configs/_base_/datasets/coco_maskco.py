# Unlabeled COCO train2017 images, MaskCo views: MoCo v2 augmentation, two
# 224 px crops that overlap, 17 key boxes of 32-128 px, the masked box.
_base_ = './coco_mocov2.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # 'after_norm': the masked box is zeroed on the normalised input (in MaskCo.loss).
    dict(type='MaskCoViews', size=224, crop_scale=(0.2, 1.), crop_ratio=(3. / 4., 4. / 3.),
         flip_prob=0.5, interpolation='bilinear', backend='pillow', num_boxes=17,
         box_side=(32, 128), max_negative_iou=0.2, mask_mode='after_norm',
         view_pipeline={{_base_.photometric_pipeline}}),
    dict(type='PackInputs', algorithm_keys=['key_boxes', 'mask_box', 'mask_mode']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
