# Unlabeled ImageNet train images (folder tree, labels ignored) through the MaskCo
# view pipeline of coco_maskco.py; epoch-based, so the default sampler.
_base_ = './coco_maskco.py'

data_root = 'data/imagenet/'
train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ImageFolderDataset',  # mmpretrain's: scans the folder when ann_file is empty
        with_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='train/'),
        pipeline={{_base_.train_pipeline}}))
