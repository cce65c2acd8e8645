from .channels_last import ChannelsLastHook
from .knn_monitor import KNNMonitorHook

__all__ = ['ChannelsLastHook', 'KNNMonitorHook']
