"""LooC's views (Xiao et al., ICLR 2021): a query and keys that each share one
augmentation with it."""
import random
from typing import Dict, List, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose

from mmssl_ext.registry import TRANSFORMS
from mmssl_ext.structures import sample_resized_crop

AUGMENTATION_GROUPS = ('colour', 'rotation')


@TRANSFORMS.register_module()
class LooCViews(BaseTransform):
    """The query ``q``, the key ``k_0`` and one key ``k_i`` per augmentation
    group, as ``results['img']`` = [q, k_0, k_1, ..., k_n].

    Every view has its own random-resized crop and flip (the augmentation all
    spaces are invariant to). For each group in ``groups`` the query draws
    parameters; ``k_0`` draws all its own; ``k_i`` draws its own for every
    group but the i-th, whose parameters it copies from the query. So in the
    space of group i, ``k_i`` is the only key that agrees with the query on
    that augmentation: its positive.

    Groups:
        ``'colour'``: colour jitter with probability ``jitter_prob``
        (brightness, contrast, saturation, hue factors drawn uniformly in
        ``1 +- strength``, hue in ``+- hue``, applied in that order), then
        grayscale with probability ``gray_prob``.
        ``'rotation'``: a rotation by one of ``rotation_angles`` (degrees,
        multiples of 90).

    Args:
        size (int): output side, pixels. Defaults to 224.
        crop_scale (tuple): area range of the crops. Defaults to (0.2, 1.0).
        groups (sequence of str): the augmentation groups, in space order.
        brightness, contrast, saturation (float): jitter strengths.
            Default 0.4 each.
        hue (float): hue jitter. Defaults to 0.1.
        jitter_prob (float): Defaults to 0.8.
        gray_prob (float): Defaults to 0.2.
        rotation_angles (sequence of int): Defaults to (0, 90, 180, 270).
        common_pipeline (list[dict]): transforms applied to every view after
            its groups, drawn independently (MoCo v2's blur by default).
        interpolation (str), backend (str): the crops' resize; Default to
            ``'bilinear'`` with pillow, as the MoCo v2 baseline's
            ``RandomResizedCrop`` (the views differ from it only by LooC's
            own changes).
    """

    def __init__(self, size: int = 224, crop_scale: Tuple[float, float] = (0.2, 1.0),
                 groups: Sequence[str] = AUGMENTATION_GROUPS, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1,
                 jitter_prob: float = 0.8, gray_prob: float = 0.2,
                 rotation_angles: Sequence[int] = (0, 90, 180, 270),
                 common_pipeline: Sequence[dict] = (
                     dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                          magnitude_std='inf', prob=0.5), ),
                 interpolation: str = 'bilinear', backend: str = 'pillow') -> None:
        unknown = [g for g in groups if g not in AUGMENTATION_GROUPS]
        if unknown or not groups or len(set(groups)) != len(groups):
            raise ValueError(f'groups must be distinct names from {AUGMENTATION_GROUPS}, '
                             f'got {tuple(groups)}')
        if any(a % 90 for a in rotation_angles) or not rotation_angles:
            raise ValueError(f'rotation_angles must be multiples of 90, got {rotation_angles}')
        self.size, self.crop_scale, self.groups = size, tuple(crop_scale), tuple(groups)
        self.strengths = dict(brightness=brightness, contrast=contrast, saturation=saturation)
        self.hue, self.jitter_prob, self.gray_prob = hue, jitter_prob, gray_prob
        self.rotation_angles = tuple(rotation_angles)
        self.interpolation, self.backend = interpolation, backend
        # built from our registry (a child of mmpretrain's) whatever the default scope
        self.common = Compose([TRANSFORMS.build(t) for t in common_pipeline])

    # -------------------------------------------------------------- parameters

    def sample(self, group: str) -> Dict:
        """Draw one group's parameters."""
        if group == 'colour':
            jitter = random.random() < self.jitter_prob
            factors = {k: random.uniform(1 - s, 1 + s) for k, s in self.strengths.items()}
            return dict(jitter=jitter, **factors, hue=random.uniform(-self.hue, self.hue),
                        gray=random.random() < self.gray_prob)
        return dict(angle=random.choice(self.rotation_angles))

    def view_parameters(self) -> List[Dict[str, Dict]]:
        """Parameters of [q, k_0, k_1..k_n]: per view, ``{group: params}``."""
        query = {g: self.sample(g) for g in self.groups}
        views = [query, {g: self.sample(g) for g in self.groups}]
        for shared in self.groups:
            views.append({g: query[g] if g == shared else self.sample(g) for g in self.groups})
        return views

    # -------------------------------------------------------------- application

    @staticmethod
    def apply_colour(img: np.ndarray, p: Dict) -> np.ndarray:
        if p['jitter']:
            img = mmcv.adjust_brightness(img, p['brightness'])
            img = mmcv.adjust_contrast(img, p['contrast'])
            img = mmcv.adjust_color(img, p['saturation'])
            img = mmcv.adjust_hue(img, p['hue'])
        if p['gray']:
            img = mmcv.gray2bgr(mmcv.bgr2gray(img))
        return img

    @staticmethod
    def apply_rotation(img: np.ndarray, p: Dict) -> np.ndarray:
        return np.ascontiguousarray(np.rot90(img, k=p['angle'] // 90))

    def _view(self, img: np.ndarray, params: Dict[str, Dict]) -> np.ndarray:
        h, w = img.shape[:2]
        x1, y1, x2, y2 = sample_resized_crop(w, h, self.crop_scale)
        view = mmcv.imresize(img[y1:y2, x1:x2], (self.size, self.size),
                             interpolation=self.interpolation, backend=self.backend)
        if random.random() < 0.5:
            view = mmcv.imflip(view)
        for group in self.groups:
            apply = self.apply_colour if group == 'colour' else self.apply_rotation
            view = apply(view, params[group])
        return self.common(dict(img=view))['img']

    def transform(self, results: dict) -> dict:
        img = results['img']
        params = self.view_parameters()
        results['img'] = [self._view(img, p) for p in params]
        results['looc_params'] = params
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, groups={self.groups}, '
                f'{len(self.groups) + 2} views)')
