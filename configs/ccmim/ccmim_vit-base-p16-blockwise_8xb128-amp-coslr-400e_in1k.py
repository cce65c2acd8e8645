# Ablation (Table 5): the 'blockwise' dividing strategy instead of importance sampling.
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(backbone=dict(strategy='blockwise'))
