# Small CPU variant of ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py for the
# demo and the tests: a 4-layer 96-d ViT on 8 px patches of 64 px crops of the
# embedded synthetic scenes (64 patches, 16 visible), a 2-block 64-d decoder,
# a 96-96-64 projector; 600 iterations of batch 32, AdamW at a fixed 1.5e-3
# after 30 warm-up iterations (the per-256 rule would give 2e-5: far too slow
# for a run this short), fp32 (AMP needs a GPU).
_base_ = [
    './ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py',
    '../_base_/schedules/synthetic_600i.py',
]

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3,
                            feedforward_channels=384),
                  img_size=64, patch_size=8),
    neck=dict(patch_size=8, embed_dim=96, decoder_embed_dim=64, decoder_depth=2,
              decoder_num_heads=4, num_patches=64),
    head=dict(patch_size=8),
    projector=dict(in_channels=96, hid_channels=96, out_channels=64))

data_root = 'data/synthetic_scenes/'
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    pin_memory=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='COCOImageDataset',
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='images/train/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0),
                 backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
]
auto_scale_lr = dict(enable=False)
# The 600-iteration CPU schedule: configs/_base_/schedules/synthetic_600i.py.
train_cfg = _base_.synthetic_600i.train_cfg
default_hooks = _base_.synthetic_600i.default_hooks
log_processor = _base_.synthetic_600i.log_processor
randomness = _base_.synthetic_600i.randomness
