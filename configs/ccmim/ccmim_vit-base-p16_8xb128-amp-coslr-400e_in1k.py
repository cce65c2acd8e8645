# ccMIM, ViT-B/16, 400 epochs: the base of the paper's ablations (Table 5,
# Fig. 4; batch 1024). Its variants change one thing each:
#   -random / -blockwise / -importance / -gumbel   the dividing strategy
#   -lambda0 / -lambda0.1 / -lambda0.5             the contrast weight
#   -align                                         L_align instead of L_NCE
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py'

max_epochs = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, by_epoch=True, begin=40,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
