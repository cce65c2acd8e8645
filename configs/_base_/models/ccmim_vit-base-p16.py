# ccMIM on ViT-B/16 (mmpretrain's MAE parts): importance-sampling division at
# mask ratio 0.75, MAE decoder (512-d, 8 blocks, fed the visible set) and
# normalised-pixel MSE on the masked patches, L_NCE between the visible- and
# masked-set CLS tokens after a D-D-256 projector with BN (the official code's
# BatchNorm1d, not synced), temperature 0.5, lambda 0.2 (the paper; the official code ends at 0.1).
model = dict(
    type='CCMIM',
    backbone=dict(type='ImportanceMaskingViT', arch='b', patch_size=16, mask_ratio=0.75,
                  strategy='importance_sampling'),
    neck=dict(
        type='MAEPretrainDecoder',
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.,
    ),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    projector=dict(
        type='NonLinearNeck',
        in_channels=768,
        hid_channels=768,
        out_channels=256,
        num_layers=2,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    loss=dict(type='CrossBatchInfoNCELoss', temperature=0.5),
    contrast_weight=0.2,
    stop_grad_masked=True,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
