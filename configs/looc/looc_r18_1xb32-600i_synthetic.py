# Small CPU variant of looc_r50_8xb32-500k_coco.py for the demo, the tests and
# the benchmarks, at the MoCo v2 small config's budget
# (../mocov2/mocov2_r18_1xb32-600i_synthetic.py): ResNet-18, 64 px views of the
# embedded synthetic scenes, queues of 8 batches, m = 0.99, 600 iterations.
_base_ = './looc_r50_8xb32-500k_coco.py'

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

max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, by_epoch=False, begin=30,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=max_iters // 2, max_keep_ckpts=2))
randomness = dict(seed=0)
