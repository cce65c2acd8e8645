"""Engine parts of mmssl_ext (hooks)."""
from .hooks import KNNMonitorHook

__all__ = ['KNNMonitorHook']
