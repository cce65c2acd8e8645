# Unlabeled COCO train2017 images, DINO's multi-crop: 2 global 224 px views
# (area 0.4-1; the first always blurred, the second rarely blurred and
# sometimes solarised: BYOL's two view pipelines of coco_detcon.py, which DINO
# reuses) and 8 local 96 px views (area 0.05-0.4; blur p = 0.5). Bicubic
# resizing, horizontal flips everywhere. Epoch-based sampler.
_base_ = './coco_detcon.py'

flip = dict(type='RandomFlip', prob=0.5)
dino_global_pipelines = [
    [flip, dict(type='Compose', transforms={{_base_.byol_view1_pipeline}})],
    [flip, dict(type='Compose', transforms={{_base_.byol_view2_pipeline}})],
]
dino_local_pipeline = [
    flip,
    dict(type='Compose', transforms={{_base_.byol_colour_pipeline}}),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
multi_crop = dict(
    type='MultiCrop',
    global_transforms=dino_global_pipelines,
    local_transforms=dino_local_pipeline,
    num_local_crops=8,
    global_size=224,
    local_size=96,
    global_scale=(0.4, 1.0),
    local_scale=(0.05, 0.4))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    multi_crop,
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, num_workers=10, dataset=dict(pipeline=train_pipeline))
