# Contrast weight lambda = 0.1, the official code's final value (the paper: 0.2).
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(contrast_weight=0.1)
