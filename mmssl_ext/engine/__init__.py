"""Engine parts of mmssl_ext (hooks)."""
from .hooks import (BadSampleBudgetHook, ChannelsLastHook, CheckpointMatchHook, CompileModulesHook,
                    IterationSeedHook, KNNMonitorHook, NonFiniteGuardHook)

__all__ = [
    'BadSampleBudgetHook', 'ChannelsLastHook', 'CheckpointMatchHook', 'CompileModulesHook',
    'IterationSeedHook', 'KNNMonitorHook', 'NonFiniteGuardHook'
]
