# Unlabeled COCO train2017 images through ccMIM's single-view pipeline.
_base_ = './imagenet_ccmim.py'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='COCOImageDataset',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline={{_base_.train_pipeline}}))
