# LooC (colour, rotation) on unlabeled COCO train2017 at the MoCo v2 baseline's
# budget (../mocov2/mocov2_r50_8xb32-500k_coco.py: SGD, 500k iterations of 256).
_base_ = [
    '../_base_/models/looc_r50.py',
    '../_base_/datasets/coco_looc.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
model = dict(queue_len=65536)
