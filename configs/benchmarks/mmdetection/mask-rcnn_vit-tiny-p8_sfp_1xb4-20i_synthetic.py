# CPU variant of mask-rcnn_vit-base-p16_sfp_1x_coco.py for the tests: the
# 4-layer 96-d ViT of ccmim_vit-tiny-p8_1xb32-600i_synthetic.py (8 px
# patches, 128 px images: a 16 x 16 grid, so the pretrained 8 x 8 position
# embedding is resized), the data and schedule of the R18 variant.
_base_ = './mask-rcnn_r18_fpn_1xb4-20i_synthetic.py'

custom_imports = dict(
    imports=['mmssl_ext.models', 'mmssl_ext.engine', 'mmssl_ext.models.detection'],
    allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384),
        img_size=128, patch_size=8, out_type='featmap',
        init_cfg=dict(type='Pretrained', _scope_='mmssl_ext', checkpoint=None,
                      prefix='backbone.')),
    # 8 px patches: the map is at stride 8, hence the scales for strides 4-32
    neck=dict(_delete_=True, type='SimpleFeaturePyramid', in_channels=96, out_channels=256,
              scales=(2, 1, 0.5, 0.25), norm_cfg=dict(type='SyncBN', requires_grad=True)))
