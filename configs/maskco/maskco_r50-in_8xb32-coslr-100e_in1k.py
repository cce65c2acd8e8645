# Ablation (paper Table 6, ImageNet, 100 epochs): inter- and intra-image
# negatives, MaskCo(+in): the 16 other key boxes of the same image are extra
# negatives beside the queue.
_base_ = './maskco_r50_8xb32-coslr-100e_in1k.py'
model = dict(intra_negatives=True)
