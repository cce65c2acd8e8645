# DetCon_B on unlabeled COCO train2017 with FH masks at DetCon's COCO scales
# {500, 1000, 1500}, min_size = scale: generate them with
#   python tools/dataset_converters/generate_fh_masks.py data/coco/train2017 \
#       data/coco/fh_masks/train2017 --scales 500 1000 1500 \
#       --ann-file data/coco/annotations/instances_train2017.json
_base_ = [
    '../_base_/models/detcon-b_r50.py',
    '../_base_/datasets/coco_detcon.py',
    '../_base_/schedules/lars_coslr-1296e_detcon.py',
]
