# Conceptual Captions images from a list file through the MaskCo view pipeline.
_base_ = './coco_maskco.py'

data_root = 'data/cc/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageListDataset',
        data_root=data_root,
        ann_file='train_list.txt',
        data_prefix=dict(img_path='images/'),
        pipeline={{_base_.train_pipeline}}))
