from .gather import gather_with_grad
from .region_pooling import boxes_to_rois, region_features

__all__ = ['boxes_to_rois', 'region_features', 'gather_with_grad']
