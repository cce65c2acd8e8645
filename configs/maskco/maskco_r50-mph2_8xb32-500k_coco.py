# Ablation (paper Table 4): a mask prediction head of 2 bottleneck blocks (default 3).
_base_ = './r50_8xb32_coco.py'
model = dict(neck=dict(num_blocks=2))
