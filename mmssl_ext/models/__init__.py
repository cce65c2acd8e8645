from .algorithms import MaskCo
from .necks import MaskPredictionNeck
from .wrappers import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel', 'MaskCo', 'MaskPredictionNeck']
