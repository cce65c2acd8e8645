# Unlabeled COCO train2017 images, two 224 px views with BYOL's asymmetric
# augmentation (NNCLR uses BYOL's), the photometric pipelines of coco_detcon.py
# (the FH-mask part of that file is not used here). Epoch-based sampler.
_base_ = './coco_detcon.py'

crop_size = 224
view_crop = [
    dict(type='RandomResizedCrop', scale=crop_size, crop_ratio_range=(0.08, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
]
nnclr_view_pipelines = [
    view_crop + [dict(type='Compose', transforms={{_base_.byol_view1_pipeline}})],
    view_crop + [dict(type='Compose', transforms={{_base_.byol_view2_pipeline}})],
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=nnclr_view_pipelines),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=256, dataset=dict(pipeline=train_pipeline))
