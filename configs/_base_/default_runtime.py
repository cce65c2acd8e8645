# Runtime shared by every mmssl_ext config (iteration-based training).
_base_ = ['./reliability_hooks.py']

default_scope = 'mmssl_ext'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic_local: a checkpoint is renamed into place once complete, so a run
    # killed while saving leaves no half-written file for --resume.
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # Seconds a collective waits for the other processes before the run
    # fails (mmengine's init_dist and our gloo path pass it on). Explicit:
    # torch's NCCL default is 10 minutes, which a slow checkpoint write on
    # rank 0 can outlast while the others wait in the next all-reduce.
    # Configs on an mmpretrain recipe set it themselves.
    dist_cfg=dict(backend='nccl', timeout=1800),
)

log_processor = dict(by_epoch=False, window_size=10)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
