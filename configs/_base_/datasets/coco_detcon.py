# Unlabeled COCO train2017 images with precomputed FH masks
# (tools/dataset_converters/generate_fh_masks.py), DetCon's two aligned views.
# BYOL's asymmetric augmentation by default (DetCon_B); DetCon_S configs use
# simclr_train_pipeline. The data source and preprocessing are coco_mocov2.py's.
_base_ = './coco_mocov2.py'

data_root = 'data/coco/'  # as in the base; repeated to build the mask paths below

byol_colour_pipeline = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2,
                          hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
# Named one by one so that other configs can reuse each ({{_base_.byol_view1_pipeline}}).
byol_view1_pipeline = byol_colour_pipeline + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.),
    dict(type='Solarize', thr=128, prob=0.)]
byol_view2_pipeline = byol_colour_pipeline + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2)]
byol_view_pipelines = [byol_view1_pipeline, byol_view2_pipeline]
simclr_view_pipeline = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8,
                          hue=0.2)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
# The mask source: FH masks here, at DetCon's COCO scales (§3.2: s in
# {500, 1000, 1500}, min_size = s; pinned: a scale whose masks were not made
# fails with the file it looked for, instead of training on other scales); the
# grid and ground-truth variants swap it.
mask_loader = dict(type='LoadFHMasks', mask_dir=data_root + 'fh_masks/train2017/',
                   img_dir=data_root + 'train2017/', scales=(500, 1000, 1500))
# Crops are resized bicubic (pillow), as the official DetCon
# (utils/tf_image_ops.py) and the BYOL and SimCLR baselines' RandomResizedCrop.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    mask_loader,
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines=byol_view_pipelines),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]
simclr_train_pipeline = [
    dict(type='LoadImageFromFile'),
    mask_loader,
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines=simclr_view_pipeline),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]
train_dataloader = dict(
    batch_size=256,
    pin_memory=True,
    # Every process needs a full batch: DetCon gathers its mask targets and
    # DINO (which inherits this file) reduces its center across processes, and
    # an all-gather of unequal tensors fails at the end of the epoch.
    drop_last=True,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),  # epoch-based
    dataset=dict(pipeline=train_pipeline))
