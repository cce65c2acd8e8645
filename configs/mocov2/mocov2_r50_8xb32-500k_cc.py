# MoCo v2 on Conceptual Captions images read from a list file, ~500k iterations.
_base_ = [
    '../_base_/models/mocov2_r50.py',
    '../_base_/datasets/cc_mocov2.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
