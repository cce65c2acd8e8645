# ImageNet train images (folder tree, labels ignored) with FH masks (official:
# scale 1000, min_size 1000), through the views of coco_detcon.py.
_base_ = './coco_detcon.py'

data_root = 'data/imagenet/'
mask_loader = dict(type='LoadFHMasks', mask_dir=data_root + 'fh_masks/train/',
                   img_dir=data_root + 'train/', scales=(1000, ))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    mask_loader,
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines={{_base_.byol_view_pipelines}}),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]
simclr_train_pipeline = [
    dict(type='LoadImageFromFile'),
    mask_loader,
    dict(type='DetConViews', size=224, crop_scale=(0.08, 1.0), interpolation='bicubic',
         backend='pillow', view_pipelines={{_base_.simclr_view_pipeline}}),
    dict(type='DetConCells', feature_stride=32),  # ResNet C5
    dict(type='PackInputs', algorithm_keys=['view_cells']),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageFolderDataset',
        with_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='train/'),
        pipeline=train_pipeline))
