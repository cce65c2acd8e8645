# Ablation (paper Table 5, row a), FH masks: negatives only from within a
# worker, i.e. groups of 32 images (4096 images on the paper's 128 workers),
# instead of the whole gathered batch; any number of processes may run it.
_base_ = './detcon-s_r50_16xb256-coslr-1296e_coco.py'
model = dict(loss=dict(negative_group_size=32))
