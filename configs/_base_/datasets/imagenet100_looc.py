# ImageNet-100-style folders (data/imagenet100/train/<class>/<image>), labels
# ignored, LooC's views (coco_looc.py).
_base_ = './coco_looc.py'

data_root = 'data/imagenet100/'
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=True),  # epoch-based schedule
    dataset=dict(
        _delete_=True,
        type='ImageFolderDataset',  # mmpretrain's: scans the folder when ann_file is empty
        with_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='train/'),
        pipeline={{_base_.train_pipeline}}))
