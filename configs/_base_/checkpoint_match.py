# Strict load_from / --resume for downstream (mmdet, mmseg, mmpretrain) configs:
# a checkpoint of another model stops the run, naming both architectures
# (docs/en/reliability.md). Listed as a second base beside the library's config;
# the backbone's own init_cfg=dict(type='Pretrained', _scope_='mmssl_ext') is
# checked by PretrainedBackbone. Pretraining configs get the hook from
# reliability_hooks.py.
custom_hooks = [dict(type='mmssl_ext.CheckpointMatchHook')]
# The collective timeout of our runtime (configs/_base_/default_runtime.py):
# the libraries' runtimes leave torch's NCCL default of 10 minutes, which
# rank 0's evaluation (COCOeval, say) can outlast while the other ranks wait.
# Taken by reference, as the library config defines env_cfg too:
#   env_cfg = _base_.collective_timeout
collective_timeout = dict(dist_cfg=dict(timeout=1800))
