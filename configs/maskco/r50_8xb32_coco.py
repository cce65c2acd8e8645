# MaskCo on unlabeled COCO train2017: ResNet-50, 8 GPUs x 32, ~500k iterations,
# SGD lr 0.03 per 256, momentum 0.9, weight decay 1e-3 (the paper's), cosine.
# The mission's config name; compare with configs/mocov2/mocov2_r50_8xb32-500k_coco.py.
_base_ = [
    '../_base_/models/maskco_r50.py',
    '../_base_/datasets/coco_maskco.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(weight_decay=1e-3))
