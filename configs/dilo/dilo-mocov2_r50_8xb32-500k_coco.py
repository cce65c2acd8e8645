# DiLo-MoCo v2 on unlabeled COCO train2017: the MoCo v2 baseline
# (../mocov2/mocov2_r50_8xb32-500k_coco.py: same model, optimiser and 500k
# iterations) with DiLo's copy-paste views. Make the saliency maps first:
#   python tools/dataset_converters/generate_saliency_maps.py data/coco/train2017 \
#       data/coco/saliency/train2017 --ann-file data/coco/annotations/instances_train2017.json
_base_ = [
    '../_base_/models/mocov2_r50.py',
    '../_base_/datasets/coco_dilo.py',
    '../_base_/schedules/sgd_coslr_500k.py',
    '../_base_/default_runtime.py',
]
