# DINO ResNet-50 on unlabeled COCO train2017: the ImageNet recipe
# (dino_r50_8xb64-coslr-100e_in1k.py) for 800 COCO epochs.
_base_ = './dino_r50_8xb64-coslr-100e_in1k.py'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='COCOImageDataset',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline={{_base_.train_dataloader.dataset.pipeline}}))
max_epochs = 800
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-6, by_epoch=True,
         begin=10, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
