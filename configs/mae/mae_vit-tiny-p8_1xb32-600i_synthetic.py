# mmpretrain's MAE (the model of its mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py),
# the baseline of ccMIM, at the budget of
# ../ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py: the same 4-layer 96-d ViT on
# 8 px patches of 64 px crops, the same decoder and head, data, AdamW schedule;
# random masking and no contrastive branch. ccMIM's pair in docs/en/benchmarks.md.
_base_ = '../ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'

model = dict(
    _delete_=True,
    type='MAE',
    backbone=dict(type='MAEViT', arch=dict(embed_dims=96, num_layers=4, num_heads=3,
                                           feedforward_channels=384),
                  img_size=64, patch_size=8, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', patch_size=8, in_chans=3, embed_dim=96,
              decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4, mlp_ratio=4.,
              num_patches=64),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
