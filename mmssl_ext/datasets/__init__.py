from .transforms import MaskCoViews
from .unlabeled import COCOImageDataset, ImageListDataset

__all__ = ['COCOImageDataset', 'ImageListDataset', 'MaskCoViews']
