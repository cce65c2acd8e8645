# Small CPU variant of detcon-s_r50_16xb256-coslr-1296e_coco.py for the demo and
# the tests: ResNet-18 (BN), 64 px views of the embedded synthetic scenes, FH
# masks precomputed at scale 200 / min_size 200 (scaled down for 128 px
# scenes; make them with
#   python tools/dataset_converters/generate_fh_masks.py \
#       data/synthetic_scenes/images/train data/synthetic_scenes/fh_masks/train \
#       --ann-file data/synthetic_scenes/annotations/instances_train.json --scales 200
# ), 600 iterations of batch 32, LARS lr 0.3 x 32 / 256 (SimCLR's rule).
_base_ = ['./detcon-s_r50_16xb256-coslr-1296e_coco.py', '../_base_/schedules/synthetic_600i.py']

model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=512, out_channels=128, norm_cfg=dict(type='BN1d')))

data_root = 'data/synthetic_scenes/'
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='images/train/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadFHMasks', mask_dir=data_root + 'fh_masks/train/',
                 img_dir=data_root + 'images/train/'),
            dict(type='DetConViews', size=64, crop_scale=(0.2, 1.0),
                 view_pipelines={{_base_.simclr_view_pipeline}}),
            dict(type='DetConCells', feature_stride=32),  # ResNet C5
            dict(type='PackInputs', algorithm_keys=['view_cells']),
        ]))

optim_wrapper = dict(optimizer=dict(lr=0.3 * 32 / 256))
# The 600-iteration CPU schedule: configs/_base_/schedules/synthetic_600i.py.
param_scheduler = _base_.synthetic_600i.param_scheduler
train_cfg = _base_.synthetic_600i.train_cfg
default_hooks = _base_.synthetic_600i.default_hooks
log_processor = _base_.synthetic_600i.log_processor
randomness = _base_.synthetic_600i.randomness
