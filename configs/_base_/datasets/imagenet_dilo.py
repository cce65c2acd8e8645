# Unlabeled ImageNet train images from the folder tree, DiLo-MoCo v2's views
# (coco_dilo.py) with the saliency maps under data/imagenet/saliency/train/.
_base_ = './coco_dilo.py'

data_root = 'data/imagenet/'
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=True),  # epoch-based schedule
    dataset=dict(
        _delete_=True,
        type='ImageFolderDataset',  # mmpretrain's: scans the folder when ann_file is empty
        with_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='train/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadSaliency', saliency_dir=data_root + 'saliency/train/',
                 img_dir=data_root + 'train/'),
            dict(type='MultiView', num_views=2, transforms=[{{_base_.dilo_view_pipeline}}]),
            dict(type='PackInputs'),
        ]))
