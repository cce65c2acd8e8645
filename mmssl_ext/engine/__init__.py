"""Engine parts of mmssl_ext (hooks, optimizers)."""
from .hooks import (AtomicStrategyCheckpointHook, BadSampleBudgetHook, ChannelsLastHook,
                    CheckpointMatchHook, CompileModulesHook, DeterministicCUDAHook,
                    IterationSeedHook, KNNMonitorHook, ModelGradientHook, NonFiniteGuardHook)
from .optimizers import SyncFreeLARS

__all__ = [
    'AtomicStrategyCheckpointHook', 'BadSampleBudgetHook', 'ChannelsLastHook',
    'CheckpointMatchHook', 'CompileModulesHook', 'DeterministicCUDAHook', 'IterationSeedHook',
    'KNNMonitorHook', 'ModelGradientHook', 'NonFiniteGuardHook', 'SyncFreeLARS'
]
