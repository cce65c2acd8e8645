from .detcon import DetConCells, DetConViews, GridMasks, InstanceMasksToIds, LoadFHMasks
from .dilo import LoadSaliency, SaliencyCopyPaste
from .looc import LooCViews
from .maskco import MaskCoViews
from .multi_crop import MultiCrop

__all__ = ['MaskCoViews', 'DetConViews', 'DetConCells', 'GridMasks', 'InstanceMasksToIds',
           'LoadFHMasks', 'MultiCrop', 'SaliencyCopyPaste', 'LoadSaliency', 'LooCViews']
