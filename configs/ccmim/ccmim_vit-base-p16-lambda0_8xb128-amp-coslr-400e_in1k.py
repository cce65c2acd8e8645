# Ablation (Fig. 4): no contrast (lambda = 0): importance from an unregularised
# CLS token, and no masked-set pass.
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(contrast_weight=0)
