"""Engine parts of mmssl_ext (hooks)."""
from .hooks import (ChannelsLastHook, CheckpointMatchHook, CompileModulesHook,
                    IterationSeedHook, KNNMonitorHook, NonFiniteGuardHook)

__all__ = [
    'ChannelsLastHook', 'CheckpointMatchHook', 'CompileModulesHook', 'IterationSeedHook',
    'KNNMonitorHook', 'NonFiniteGuardHook'
]
