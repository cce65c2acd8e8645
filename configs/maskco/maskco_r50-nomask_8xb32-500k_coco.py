# Ablation (paper Table 5): no mask; the query predicts its region unmasked.
_base_ = './r50_8xb32_coco.py'
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MaskCoViews', size=224, mask_mode='none',
         view_pipeline={{_base_.photometric_pipeline}}),
    dict(type='PackInputs', algorithm_keys=['key_boxes', 'mask_box', 'mask_mode']),
]))
