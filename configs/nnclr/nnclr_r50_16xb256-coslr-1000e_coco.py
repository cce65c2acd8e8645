# NNCLR on unlabeled COCO train2017: the ImageNet recipe
# (nnclr_r50_16xb256-coslr-1000e_in1k.py) on COCO images. 1000 COCO epochs at
# batch 4096 are ~29k iterations (a tenth of the ImageNet schedule's steps).
_base_ = [
    '../_base_/models/nnclr_r50.py',
    '../_base_/datasets/coco_nnclr.py',
    '../_base_/schedules/lars_coslr_detcon.py',
]
optim_wrapper = dict(optimizer=dict(lr=4.8, weight_decay=1e-6))
