# MaskCo(+in): the 16 other key boxes of the same image are extra negatives.
_base_ = './r50_8xb32_coco.py'
model = dict(intra_negatives=True)
