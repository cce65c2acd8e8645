# MaskCo on Conceptual Captions (list file), the same ~500k iterations as COCO
# (paper Table 2); wd 1e-3.
_base_ = [
    '../_base_/models/maskco_r50.py',
    '../_base_/datasets/cc_maskco.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(weight_decay=1e-3))
