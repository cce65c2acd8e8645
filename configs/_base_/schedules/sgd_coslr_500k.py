# SGD + cosine by iteration: ~500k steps at batch 256 (MoCo/MaskCo on COCO, ~100 IN epochs).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9))
__max_iters = 500000  # a name of this file only (mmengine keeps no __ name as a key)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=__max_iters, by_epoch=False, begin=0, end=__max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=__max_iters)
# lr 0.03 is for a batch of 256 (8 GPUs x 32); --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=256)
