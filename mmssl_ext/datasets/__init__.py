from .bad_samples import BadSampleBudgetExceeded, BadSampleError, SkipBadSamplesMixin
from .transforms import MaskCoViews
from .unlabeled import COCOImageDataset, ImageFolderDataset, ImageListDataset

__all__ = [
    'BadSampleBudgetExceeded', 'BadSampleError', 'COCOImageDataset', 'ImageFolderDataset',
    'ImageListDataset', 'MaskCoViews', 'SkipBadSamplesMixin'
]
