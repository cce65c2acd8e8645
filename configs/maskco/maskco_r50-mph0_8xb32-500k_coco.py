# Ablation (paper Table 4): a mask prediction head of 0 bottleneck blocks (default 3).
_base_ = './r50_8xb32_coco.py'
model = dict(neck=dict(num_blocks=0))
