# Small CPU variant of r50_8xb32_coco.py for the demo and the tests: ResNet-18,
# 64 px views of the embedded synthetic scenes, 600 iterations; the same
# short-run settings as mocov2_r18_1xb32-600i_synthetic.py (queue 256, m=0.99).
_base_ = ['./r50_8xb32_coco.py', '../_base_/schedules/synthetic_600i.py']

model = dict(
    queue_len=256,
    # A 64 px view has a 2x2 C5 map and its boxes span 0.3-1.2 cells: 3x3 bins
    # already sample every cell a box touches (7x7 only repeats samples, and
    # mmcv's CPU RoIAlign made the step 1.6x MoCo v2's).
    roi_output_size=3,
    momentum=0.01,
    backbone=dict(depth=18),
    neck=dict(in_channels=512),
    projector=dict(in_channels=512, hid_channels=512))

data_root = 'data/synthetic_scenes/'
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
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Box sides scale with the view: 32-128 px at 224 -> ~9-37 px at 64.
    dict(type='MaskCoViews', size=64, view_pipeline=photometric_pipeline),
    dict(type='PackInputs', algorithm_keys=['key_boxes', 'mask_box', 'mask_mode']),
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
