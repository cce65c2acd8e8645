# Small CPU variant of looc_r50_8xb32-500k_coco.py for the demo, the tests and
# the benchmarks, at the MoCo v2 small config's budget
# (../mocov2/mocov2_r18_1xb32-600i_synthetic.py): ResNet-18, 64 px views of the
# embedded synthetic scenes, queues of 8 batches, m = 0.99, 600 iterations.
_base_ = ['./looc_r50_8xb32-500k_coco.py', '../_base_/schedules/synthetic_600i.py']

model = dict(
    queue_len=256,
    momentum=0.01,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512))

data_root = 'data/synthetic_scenes/'
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='images/train/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LooCViews', size=64, crop_scale=(0.2, 1.0),
                 groups=('colour', 'rotation'),
                 # blur sigmas scaled from the 224 px recipe to the small view
                 common_pipeline=[dict(type='GaussianBlur', magnitude_range=(0.1, 0.6),
                                       magnitude_std='inf', prob=0.5)]),
            dict(type='PackInputs'),
        ]))

# The 600-iteration CPU schedule: configs/_base_/schedules/synthetic_600i.py.
param_scheduler = _base_.synthetic_600i.param_scheduler
train_cfg = _base_.synthetic_600i.train_cfg
default_hooks = _base_.synthetic_600i.default_hooks
log_processor = _base_.synthetic_600i.log_processor
randomness = _base_.synthetic_600i.randomness
