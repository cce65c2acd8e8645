# Ablation (paper Table 6, ImageNet, 100 epochs): intra-image negatives only:
# the 16 other key boxes of the same image, no queue.
_base_ = './maskco_r50_8xb32-coslr-100e_in1k.py'
model = dict(intra_negatives=True, queue_negatives=False)
