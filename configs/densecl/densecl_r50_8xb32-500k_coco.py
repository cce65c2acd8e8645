# DenseCL on unlabeled COCO train2017 images at the MoCo v2 baseline's budget:
# ResNet-50, 8 GPUs x 32, 500k iterations (mocov2_r50_8xb32-500k_coco.py), MoCo
# v2's views; the region-level baseline of the package (dense, not object
# crops). lr 0.3 is the official DenseCL COCO recipe's (recipe.yml).
_base_ = [
    '../_base_/models/densecl_r50.py',
    '../_base_/datasets/coco_mocov2.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
model = _base_.densecl_r50
optim_wrapper = dict(optimizer=dict(lr=0.3))
# The dense head's gradient does not reach every parameter on every step.
find_unused_parameters = True
