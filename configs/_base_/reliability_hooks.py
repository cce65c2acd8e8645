# Reliability hooks of every pretraining config (docs/en/reliability.md):
# randomness that a resumed run reproduces, checkpoints that must fit the model,
# steps with non-finite gradients skipped (at most 10) before the run stops with
# a checkpoint for inspection; the model's own gradient policy, for models that
# have one (DINO's per-parameter clipping and last-layer freeze); one budget of
# skipped bad samples (the dataset's max_skipped_samples) for all the job's
# processes, carried through resume; atomic checkpoints under FlexibleRunner
# (FSDP/DeepSpeed) too; with randomness.deterministic=True on a GPU, cuBLAS's
# workspace fixed (CUBLAS_WORKSPACE_CONFIG), and a model with an op that has no
# deterministic CUDA kernel refused, naming the op, before the first step. Inherited
# through default_runtime.py, or listed
# beside an mmpretrain recipe as a second base (it defines nothing else, so
# that mmengine's rule against a key defined by two bases is never hit).
custom_hooks = [
    dict(type='IterationSeedHook'),
    dict(type='CheckpointMatchHook'),
    dict(type='NonFiniteGuardHook', max_skipped=10),
    dict(type='ModelGradientHook'),
    dict(type='BadSampleBudgetHook'),
    dict(type='AtomicStrategyCheckpointHook'),
    dict(type='DeterministicCUDAHook'),
]
