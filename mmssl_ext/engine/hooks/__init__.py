from .channels_last import ChannelsLastHook
from .compile_modules import CompileModulesHook
from .knn_monitor import KNNMonitorHook

__all__ = ['ChannelsLastHook', 'CompileModulesHook', 'KNNMonitorHook']
