"""MaskCo's two views with region boxes (contrastive mask prediction)."""
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose

from mmssl_ext.registry import TRANSFORMS
from mmssl_ext.structures import (ViewGeometry, image_to_view, project_boxes, sample_boxes,
                                  sample_boxes_with_iou_below, sample_resized_crop, view_overlap)

MASK_MODES = ('after_norm', 'before_norm', 'none')


@TRANSFORMS.register_module()
class MaskCoViews(BaseTransform):
    """A query and a key view of one image, with MaskCo's boxes.

    1. Two crops are drawn as RandomResizedCrop does (area fraction in
       ``crop_scale``, aspect ratio in ``crop_ratio``), until their overlap,
       seen in the key view, can hold a box of ``box_side[0]`` pixels
       (at most ``max_tries`` pairs; then the key view reuses the query's crop,
       so that the overlap is the whole view: a documented fallback that
       never fails, also on images smaller than the view).
    2. Both are resized to ``size`` and flipped with ``flip_prob``.
    3. ``num_boxes`` boxes are drawn in the key view, sides in ``box_side``
       (key-view pixels, for a 224 px view; scaled by ``size / 224``): box 0,
       the positive, inside the overlap; the others anywhere in the view with
       IoU < ``max_negative_iou`` to box 0.
    4. The positive box projected into the query view (undo the key view's
       flip and crop, apply the query's crop and flip) is the masked box.
    5. ``view_pipeline`` (photometric transforms: MoCo v2's colour jitter,
       grayscale, blur) runs on each view separately.
    6. ``mask_mode='before_norm'`` zeroes the masked box's pixels here (black);
       ``'after_norm'`` (default) leaves that to the model, which zeroes the
       normalised input (the image mean) — MaskCo's "masked to zero" on the
       network input; ``'none'`` is the no-mask ablation.

    Crops are resized as the MoCo v2 baseline's ``RandomResizedCrop`` does
    (mmpretrain's config: bilinear, ``backend='pillow'``), so that MaskCo and
    its baseline see the same pixels but for MaskCo's own changes.

    Writes ``img`` = [query, key] (H, W, 3 each), ``key_boxes`` (num_boxes, 4)
    float32 x1y1x2y2 in key-view pixels (row 0 the positive), ``mask_box`` (4,)
    float32 x1y1x2y2 in query-view pixels (clipped to the view), and
    ``mask_mode``. Pack them with ``PackInputs(algorithm_keys=['key_boxes',
    'mask_box', 'mask_mode'])``: the model refuses samples without a mode.
    """

    def __init__(self, size: int = 224, crop_scale: Tuple[float, float] = (0.2, 1.0),
                 crop_ratio: Tuple[float, float] = (3. / 4., 4. / 3.), num_boxes: int = 17,
                 box_side: Tuple[float, float] = (32, 128), max_negative_iou: float = 0.2,
                 flip_prob: float = 0.5, max_tries: int = 10, mask_mode: str = 'after_norm',
                 view_pipeline: Optional[Sequence[dict]] = None,
                 interpolation: str = 'bilinear', backend: str = 'pillow') -> None:
        if mask_mode not in MASK_MODES:
            raise ValueError(f'mask_mode must be one of {MASK_MODES}, got {mask_mode!r}')
        if num_boxes < 1:
            raise ValueError(f'num_boxes must be >= 1, got {num_boxes}')
        self.min_side, self.max_side = (s * size / 224 for s in box_side)
        if not 0 < self.min_side <= self.max_side <= size:
            raise ValueError(f'box_side {box_side} (scaled to {self.min_side:.1f}..'
                             f'{self.max_side:.1f} px) must fit in a {size} px view')
        self.size = size
        self.crop_scale, self.crop_ratio = crop_scale, crop_ratio
        self.num_boxes, self.max_negative_iou = num_boxes, max_negative_iou
        self.flip_prob, self.max_tries, self.mask_mode = flip_prob, max_tries, mask_mode
        self.view_pipeline = Compose(list(view_pipeline or []))
        self.interpolation, self.backend = interpolation, backend

    def _random_crop(self, width: int, height: int) -> Tuple[int, int, int, int]:
        return sample_resized_crop(width, height, self.crop_scale, self.crop_ratio)

    def _views(self, width: int, height: int) -> Tuple[ViewGeometry, ViewGeometry, tuple]:
        """Query and key geometry and the overlap in key-view pixels."""
        size = (self.size, self.size)
        for _ in range(self.max_tries):
            query = ViewGeometry(self._random_crop(width, height), size,
                                 np.random.rand() < self.flip_prob)
            key = ViewGeometry(self._random_crop(width, height), size,
                               np.random.rand() < self.flip_prob)
            overlap = view_overlap(query, key)
            if overlap is None:
                continue
            region = tuple(image_to_view(np.array(overlap), key)[0])
            if min(region[2] - region[0], region[3] - region[1]) >= self.min_side:
                return query, key, region
        # Fallback: the key view reuses the query crop; the overlap is the whole view.
        query = ViewGeometry(self._random_crop(width, height), size,
                             np.random.rand() < self.flip_prob)
        key = ViewGeometry(query.crop, size, np.random.rand() < self.flip_prob)
        return query, key, (0.0, 0.0, float(self.size), float(self.size))

    def _render(self, img: np.ndarray, view: ViewGeometry) -> np.ndarray:
        x1, y1, x2, y2 = view.crop
        out = mmcv.imresize(img[y1:y2, x1:x2], view.size, interpolation=self.interpolation,
                            backend=self.backend)
        return mmcv.imflip(out, 'horizontal') if view.flipped else out

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        if height < 1 or width < 1:
            raise ValueError(f'empty image: {results.get("img_path", "?")}')
        query, key, region = self._views(width, height)
        rng = np.random.default_rng(np.random.randint(0, 2**31))
        positive = sample_boxes(rng, 1, region, self.min_side, self.max_side)
        negatives = sample_boxes_with_iou_below(
            rng, positive[0], self.num_boxes - 1, (0, 0, self.size, self.size),
            self.min_side, self.max_side, self.max_negative_iou)
        key_boxes = np.concatenate([positive, negatives]).astype(np.float32)
        mask_box = np.clip(project_boxes(positive, key, query)[0], 0, self.size)

        views: List[np.ndarray] = []
        for view in (query, key):
            out = self.view_pipeline(dict(img=self._render(img, view)))
            views.append(out['img'])
        if self.mask_mode == 'before_norm':
            x1, y1, x2, y2 = np.round(mask_box).astype(int)
            views[0] = views[0].copy()
            views[0][y1:y2, x1:x2] = 0
        results['img'] = views
        results['key_boxes'] = key_boxes
        results['mask_box'] = mask_box.astype(np.float32)
        results['mask_mode'] = self.mask_mode
        results['view_crops'] = np.array([query.crop, key.crop], dtype=np.float32)
        results['view_flips'] = np.array([query.flipped, key.flipped])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, num_boxes={self.num_boxes}, '
                f'box_side=({self.min_side:g}, {self.max_side:g}), '
                f'mask_mode={self.mask_mode!r})')
