# ccMIM, ViT-S/16 (384-d, 12 layers, 6 heads; the official small model keeps
# the 512-d, 8-block decoder), ImageNet-1k, 300 epochs.
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py'

model = dict(
    # mmpretrain's 'small' is a 768-d, 8-layer ViT; ViT-S/16 is its 'deit-small'
    backbone=dict(arch='deit-small'),
    neck=dict(embed_dim=384),
    projector=dict(in_channels=384, hid_channels=384))
