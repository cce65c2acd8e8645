# CPU variant of upernet_vit-base-p16_8xb2-160k_ade20k-512x512.py for the tests:
# UperNet on the 4-layer 96-d ViT of ccmim_vit-tiny-p8_1xb32-600i_synthetic.py
# (mmseg's MAE backbone, feature pyramid from all 4 layers), 96 px crops (a
# 12 x 12 grid: the 8 x 8 pretrained position embedding is resized), the
# synthetic scenes' semantic maps (data and schedule of the FCN variant).
_base_ = './fcn_r18-d8_1xb4-20i_synthetic.py'

crop_size = (96, 96)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    _delete_=True,
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=crop_size),
    backbone=dict(
        type='MAE', img_size=crop_size, patch_size=8, embed_dims=96, num_layers=4,
        num_heads=3, mlp_ratio=4, init_values=1.0, drop_path_rate=0.1,
        out_indices=[0, 1, 2, 3],
        init_cfg=dict(type='mmssl_ext.PretrainedBackbone', checkpoint=None,
                      prefix='backbone.')),
    neck=dict(type='Feature2Pyramid', embed_dim=96, rescales=[4, 2, 1, 0.5]),
    decode_head=dict(type='UPerHead', in_channels=[96, 96, 96, 96], in_index=[0, 1, 2, 3],
                     pool_scales=(1, 2, 3, 6), channels=64, dropout_ratio=0.1, num_classes=9,
                     norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)),
    auxiliary_head=dict(type='FCNHead', in_channels=96, in_index=2, channels=64, num_convs=1,
                        concat_input=False, dropout_ratio=0.1, num_classes=9,
                        norm_cfg=norm_cfg, align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                         loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(1.0, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]))
test_dataloader = val_dataloader
