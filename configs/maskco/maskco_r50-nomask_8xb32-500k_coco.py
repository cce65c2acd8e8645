# Ablation (paper Table 5): no mask, and no MPH as in that table (compare with
# maskco_r50-mph0_8xb32-500k_coco.py, the masked run without MPH). Without the
# mask the query predicts its own, unmasked region.
_base_ = './r50_8xb32_coco.py'
model = dict(neck=dict(num_blocks=0))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MaskCoViews', size=224, crop_scale=(0.2, 1.), crop_ratio=(3. / 4., 4. / 3.),
         flip_prob=0.5, interpolation='bilinear', backend='pillow', num_boxes=17,
         box_side=(32, 128), max_negative_iou=0.2, mask_mode='none',
         view_pipeline={{_base_.photometric_pipeline}}),
    dict(type='PackInputs', algorithm_keys=['key_boxes', 'mask_box', 'mask_mode']),
]))
