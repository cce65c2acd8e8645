from .wrappers import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel']
