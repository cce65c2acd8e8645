# Strict load_from / --resume for downstream (mmdet, mmseg, mmpretrain) configs:
# a checkpoint of another model stops the run, naming both architectures
# (docs/en/reliability.md). Listed as a second base beside the library's config;
# the backbone's own init_cfg=dict(type='Pretrained', _scope_='mmssl_ext') is
# checked by PretrainedBackbone. Pretraining configs get the hook from
# reliability_hooks.py.
custom_hooks = [dict(type='mmssl_ext.CheckpointMatchHook')]
