# Small CPU variant of mocov2_r50_8xb32-500k_coco.py for the demo and the tests:
# ResNet-18, 64 px views of the embedded synthetic scenes
# (tools/misc/make_synthetic_scenes.py), 600 iterations.
_base_ = ['./mocov2_r50_8xb32-500k_coco.py', '../_base_/schedules/synthetic_600i.py']

# A short run on a small dataset. The queue holds 8 batches (not 2048): with a
# long queue and a fast-moving encoder, queued keys are told apart from fresh
# ones by their age (the loss then *rises* as the lr decays, measured), and a
# queue near the dataset size fills with other crops of the query's own
# image. The key encoder follows faster (m = 0.99; 0.999 leaves it near its
# initialisation for most of 600 iterations).
model = dict(
    queue_len=256,
    momentum=0.01,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512))

data_root = 'data/synthetic_scenes/'
crop_size = 64
photometric_pipeline = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
                          hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    # Blur sigmas scaled from the 224 px recipe to the small view.
    dict(type='GaussianBlur', magnitude_range=(0.1, 0.6), magnitude_std='inf', prob=0.5),
]
view_pipeline = [
    dict(type='RandomResizedCrop', scale=crop_size, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    *photometric_pipeline,
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='images/train/'),
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.03))
# The 600-iteration CPU schedule: configs/_base_/schedules/synthetic_600i.py.
param_scheduler = _base_.synthetic_600i.param_scheduler
train_cfg = _base_.synthetic_600i.train_cfg
default_hooks = _base_.synthetic_600i.default_hooks
log_processor = _base_.synthetic_600i.log_processor
randomness = _base_.synthetic_600i.randomness
