# Ablation (Fig. 4): contrast weight lambda = 0.5 (the paper's best is 0.2).
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(contrast_weight=0.5)
