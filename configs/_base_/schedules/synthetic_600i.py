# The 600-iteration CPU schedule of the small synthetic configs
# (*_1xb32-600i_synthetic.py, for the demo and the tests): the lr warmed up
# linearly from 0.1x over 30 iterations, then cosine-decayed to 0; a log line
# every 20 iterations, a checkpoint every 300 (two kept); seed 0.
#
# A synthetic config lists this file beside its full-size parent and takes the
# blocks as `param_scheduler = _base_.synthetic_600i.param_scheduler` (and so
# on): the parent defines the same top-level keys, and mmengine refuses a key
# that two bases define, so the blocks travel under one name of their own.
synthetic_600i = dict(
    param_scheduler=[
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
        dict(type='CosineAnnealingLR', T_max=570, by_epoch=False, begin=30, end=600),
    ],
    # _delete_: the parents' loops are epoch-based or count 500k iterations.
    train_cfg=dict(_delete_=True, type='IterBasedTrainLoop', max_iters=600),
    default_hooks=dict(logger=dict(interval=20),
                       checkpoint=dict(interval=300, by_epoch=False, max_keep_ckpts=2)),
    log_processor=dict(by_epoch=False),
    randomness=dict(seed=0),
)
