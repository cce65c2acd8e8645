# Ablation (paper Table 4, ImageNet, 100 epochs): a mask prediction head of
# 1 bottleneck blocks (default 3).
_base_ = './maskco_r50_8xb32-coslr-100e_in1k.py'
model = dict(neck=dict(num_blocks=1))
