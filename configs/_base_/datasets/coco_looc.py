# Unlabeled COCO train2017 images, LooC's views: the query, the key k_0 and one
# key per augmentation group (colour, rotation) sharing that group's
# parameters with the query; 224 px crops of area 0.2-1, flips, MoCo v2's blur.
# The rest (data source, preprocessing, sampler) is coco_mocov2.py's.
_base_ = './coco_mocov2.py'

looc_views = dict(type='LooCViews', size=224, crop_scale=(0.2, 1.0),
                  groups=('colour', 'rotation'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    looc_views,
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
