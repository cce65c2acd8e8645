from .atomic_checkpoints import AtomicStrategyCheckpointHook
from .bad_sample_budget import BadSampleBudgetHook
from .channels_last import ChannelsLastHook
from .checkpoint_match import CheckpointMatchHook
from .compile_modules import CompileModulesHook
from .deterministic_cuda import DeterministicCUDAHook
from .iteration_seed import IterationSeedHook
from .knn_monitor import KNNMonitorHook
from .model_gradient import ModelGradientHook
from .non_finite_guard import NonFiniteGuardHook

__all__ = [
    'AtomicStrategyCheckpointHook', 'BadSampleBudgetHook', 'ChannelsLastHook',
    'CheckpointMatchHook', 'CompileModulesHook', 'DeterministicCUDAHook', 'IterationSeedHook',
    'KNNMonitorHook', 'ModelGradientHook', 'NonFiniteGuardHook'
]
