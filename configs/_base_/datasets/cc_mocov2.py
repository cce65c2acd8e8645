# Conceptual Captions images from a list file ("path<TAB>caption" or "path" per line).
_base_ = './coco_mocov2.py'

data_root = 'data/cc/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageListDataset',
        data_root=data_root,
        ann_file='train_list.txt',
        data_prefix=dict(img_path='images/'),
        pipeline={{_base_.train_pipeline}}))
