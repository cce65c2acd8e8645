# Unlabeled ImageNet train images from the folder tree, NNCLR's two views.
_base_ = './coco_nnclr.py'

data_root = 'data/imagenet/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageFolderDataset',  # mmpretrain's: scans the folder when ann_file is empty
        with_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='train/'),
        pipeline={{_base_.train_pipeline}}))
