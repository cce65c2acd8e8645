# Unlabeled COCO train2017 images, LooC's views: the query, the key k_0 and one
# key per augmentation group (colour, rotation) sharing that group's
# parameters with the query; 224 px crops of area 0.2-1, flips, MoCo v2's blur.
# The rest (data source, preprocessing, sampler) is coco_mocov2.py's.
_base_ = './coco_mocov2.py'

# Every parameter stated, so that configs/looc/recipe.yml can check it: the
# colour group is MoCo v2's jitter (0.4, 0.4, 0.4, 0.1 with p 0.8) and
# grayscale (p 0.2); rotations by multiples of 90 degrees; blur as MoCo v2's.
looc_views = dict(type='LooCViews', size=224, crop_scale=(0.2, 1.0),
                  groups=('colour', 'rotation'), brightness=0.4, contrast=0.4,
                  saturation=0.4, hue=0.1, jitter_prob=0.8, gray_prob=0.2,
                  rotation_angles=(0, 90, 180, 270), interpolation='bilinear',
                  backend='pillow',
                  common_pipeline=[dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                                        magnitude_std='inf', prob=0.5)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    looc_views,
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
