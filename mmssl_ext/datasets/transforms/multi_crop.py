"""Multi-crop views (SwAV, DINO): a few large global crops and many small local ones."""
from typing import List, Sequence, Tuple

from mmpretrain.datasets.transforms import MultiView

from mmssl_ext.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiCrop(MultiView):
    """Global and local random-resized crops of one image, each with its own
    photometric pipeline, as ``results['img']`` = [global..., local...].

    A thin layer over mmpretrain's ``MultiView`` that owns the crop geometry
    (output sizes and area ranges), so that configs name the paper's
    quantities and only list the photometric steps.

    Args:
        global_transforms (list[list[dict]]): one pipeline per global view
            (DINO: two, the second with solarisation), applied after the crop.
        local_transforms (list[dict]): the pipeline of every local view.
        num_local_crops (int): N, the number of local views (may be 0).
        global_size (int): global crop side in pixels. Defaults to 224.
        local_size (int): local crop side in pixels. Defaults to 96.
        global_scale (tuple): area range of a global crop, as a fraction of
            the image. Defaults to (0.4, 1.0) (DINO's ViT recipe).
        local_scale (tuple): area range of a local crop. Defaults to (0.05, 0.4).
        interpolation (str): resize interpolation. Defaults to 'bicubic'.
        backend (str): 'pillow' (DINO's) or 'cv2'. Defaults to 'pillow'.
    """

    def __init__(self, global_transforms: Sequence[Sequence[dict]],
                 local_transforms: Sequence[dict], num_local_crops: int = 8,
                 global_size: int = 224, local_size: int = 96,
                 global_scale: Tuple[float, float] = (0.4, 1.0),
                 local_scale: Tuple[float, float] = (0.05, 0.4),
                 interpolation: str = 'bicubic', backend: str = 'pillow') -> None:
        if not global_transforms:
            raise ValueError('MultiCrop needs at least one global view (global_transforms)')
        if num_local_crops < 0:
            raise ValueError(f'num_local_crops must be >= 0, got {num_local_crops}')
        for name, (low, high) in (('global_scale', global_scale), ('local_scale', local_scale)):
            if not 0 < low <= high <= 1:
                raise ValueError(f'{name} must satisfy 0 < low <= high <= 1, got {(low, high)}')
        self.num_global_crops, self.num_local_crops = len(global_transforms), num_local_crops
        self.global_size, self.local_size = global_size, local_size

        def crop(size: int, scale: Tuple[float, float]) -> dict:
            return dict(type='RandomResizedCrop', scale=size, crop_ratio_range=tuple(scale),
                        interpolation=interpolation, backend=backend)

        pipelines: List[list] = [[crop(global_size, global_scale), *steps]
                                 for steps in global_transforms]
        num_views = [1] * len(pipelines)
        if num_local_crops:
            pipelines.append([crop(local_size, local_scale), *local_transforms])
            num_views.append(num_local_crops)
        super().__init__(transforms=pipelines, num_views=num_views)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_global_crops} x {self.global_size} px '
                f'global + {self.num_local_crops} x {self.local_size} px local)\n'
                + super().__repr__())
