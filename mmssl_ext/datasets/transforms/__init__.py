from .detcon import DetConViews, GridMasks, InstanceMasksToIds, LoadFHMasks
from .maskco import MaskCoViews

__all__ = ['MaskCoViews', 'DetConViews', 'GridMasks', 'InstanceMasksToIds', 'LoadFHMasks']
