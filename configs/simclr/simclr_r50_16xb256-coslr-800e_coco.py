# SimCLR (mmpretrain's simclr_resnet50_16xb256-coslr-800e_in1k.py) on COCO images.
# mmpretrain's recipe (model, views, optimiser, schedule, epochs), on
# unlabeled COCO train2017 images read by our COCOImageDataset, so that it is
# compared with our methods on the same data and the same transfer benchmarks.
# COCO has ~118k images: one COCO epoch is ~1/11 of an ImageNet epoch's steps;
# set train_cfg.max_epochs (and the schedulers' ends) to match a budget.
_base_ = [
    'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-800e_in1k.py',
    '../_base_/mmpretrain_on_coco.py',
]
default_scope = 'mmssl_ext'

# mmpretrain's views but for the crop's resize: bicubic, as the official SimCLR
# (data_util.py, tf.image.resize_bicubic) and our DetCon_S, its pair; mmpretrain
# leaves RandomResizedCrop's bilinear default.
view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8,
                          hue=0.2)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs')
]
data_root = 'data/coco/'
train_dataloader = dict(
    # mmpretrain 1.2.0's 800-epoch config keeps its base's 32 per GPU (512 in
    # all) with the lr of 4096 (4.8): its name's 16 x 256 is SimCLR's batch.
    batch_size=256,
    # SimCLR gathers the batch across processes: every rank needs a full one
    # (mmpretrain's config lets the epoch's last, shorter batch through, and
    # the all-gather of unequal tensors fails on 16 GPUs).
    drop_last=True,
    dataset=dict(**_base_.mmpretrain_on_coco.dataset, data_root=data_root,
                 pipeline=train_pipeline))
default_hooks = _base_.mmpretrain_on_coco.default_hooks  # atomic checkpoints
env_cfg = _base_.mmpretrain_on_coco.env_cfg  # our collective timeout
