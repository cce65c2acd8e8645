"""Engine parts of mmssl_ext (hooks)."""
from .hooks import (AtomicStrategyCheckpointHook, BadSampleBudgetHook, ChannelsLastHook,
                    CheckpointMatchHook, CompileModulesHook, IterationSeedHook, KNNMonitorHook,
                    NonFiniteGuardHook)

__all__ = [
    'AtomicStrategyCheckpointHook', 'BadSampleBudgetHook', 'ChannelsLastHook',
    'CheckpointMatchHook', 'CompileModulesHook', 'IterationSeedHook', 'KNNMonitorHook',
    'NonFiniteGuardHook'
]
