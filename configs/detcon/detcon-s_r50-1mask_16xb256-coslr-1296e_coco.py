# Ablation (paper Table 4, row b): FH masks, but a single mask sampled per view
# instead of 16 (pretrained on COCO, evaluated frozen on COCO).
_base_ = './detcon-s_r50_16xb256-coslr-1296e_coco.py'
model = dict(num_samples=1)
