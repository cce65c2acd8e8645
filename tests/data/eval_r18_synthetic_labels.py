# An evaluation config for tools/test.py in the tests: mmpretrain's image
# classifier on a ResNet-18, scored on the synthetic scenes' image labels.
default_scope = 'mmssl_ext'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=512,
              loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=8, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
test_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='data/synthetic_scenes', ann_file='val.txt',
                 data_prefix='', pipeline=[dict(type='LoadImageFromFile'),
                                           dict(type='PackInputs')]))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
