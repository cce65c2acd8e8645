"""Box geometry between an image and the views cropped from it.

Small pure functions on numpy arrays, the one place where box sampling, IoU
and the projection of boxes through crop / resize / horizontal flip live
(used by the MaskCo transform, the visualisers and the tests).

Conventions:

* boxes are ``(N, 4)`` float arrays ``x1, y1, x2, y2`` in pixels, with
  ``x2 > x1`` and ``y2 > y1`` (continuous coordinates: a pixel ``i`` spans
  ``[i, i + 1)``);
* a view is described by :class:`ViewGeometry`: the crop taken from the
  original image (in original-image pixels), the size it was resized to, and
  whether it was then flipped horizontally.
"""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
from torchvision.ops import box_iou as tv_box_iou

__all__ = [
    'ViewGeometry', 'box_iou', 'image_to_view', 'view_to_image', 'project_boxes',
    'view_overlap', 'sample_boxes', 'sample_boxes_with_iou_below', 'sample_resized_crop'
]


@dataclass(frozen=True)
class ViewGeometry:
    """Where a view comes from.

    Attributes:
        crop: ``(x1, y1, x2, y2)`` of the crop, original-image pixels.
        size: ``(width, height)`` of the view after resizing, view pixels.
        flipped: whether the view was flipped horizontally after resizing.
    """
    crop: Tuple[float, float, float, float]
    size: Tuple[int, int]
    flipped: bool = False

    @property
    def scale(self) -> Tuple[float, float]:
        """View pixels per original-image pixel, ``(sx, sy)``."""
        x1, y1, x2, y2 = self.crop
        return self.size[0] / (x2 - x1), self.size[1] / (y2 - y1)


def sample_resized_crop(width: int, height: int, scale: Tuple[float, float] = (0.08, 1.0),
                        ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                        rng=np.random) -> Tuple[int, int, int, int]:
    """RandomResizedCrop's draw (torchvision's rule), integer image pixels.

    Up to 10 tries of an area fraction in ``scale`` and a log-uniform aspect
    ratio in ``ratio``; then a central crop at the nearest valid ratio.

    Args:
        width, height: the image, pixels.
        rng: ``np.random`` (the default: the worker's seeded global state, as
            mmcv's transforms use) or a ``np.random.RandomState``.

    Returns:
        ``(x1, y1, x2, y2)`` with ``0 <= x1 < x2 <= width`` (same for y).
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            x = rng.randint(0, width - w + 1)
            y = rng.randint(0, height - h + 1)
            return x, y, x + w, y + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    w, h = max(w, 1), max(h, 1)
    x, y = (width - w) // 2, (height - h) // 2
    return x, y, x + w, y + h


def _as_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union (torchvision's ``box_iou`` on numpy input).

    Args:
        boxes1: (N, 4) x1y1x2y2. boxes2: (M, 4) x1y1x2y2, same frame.

    Returns:
        (N, M) IoU in [0, 1].
    """
    return tv_box_iou(torch.from_numpy(_as_boxes(boxes1)),
                      torch.from_numpy(_as_boxes(boxes2))).numpy()


def _flip_x(boxes: np.ndarray, width: float) -> np.ndarray:
    flipped = boxes.copy()
    flipped[:, 0] = width - boxes[:, 2]
    flipped[:, 2] = width - boxes[:, 0]
    return flipped


def image_to_view(boxes: np.ndarray, view: ViewGeometry) -> np.ndarray:
    """Original-image pixels -> view pixels (crop, resize, then flip).

    Args:
        boxes: (N, 4) x1y1x2y2 in original-image pixels.
        view: the view's geometry.

    Returns:
        (N, 4) x1y1x2y2 in view pixels (not clipped to the view).
    """
    boxes = _as_boxes(boxes)
    sx, sy = view.scale
    x0, y0 = view.crop[:2]
    out = (boxes - np.array([x0, y0, x0, y0])) * np.array([sx, sy, sx, sy])
    return _flip_x(out, view.size[0]) if view.flipped else out


def view_to_image(boxes: np.ndarray, view: ViewGeometry) -> np.ndarray:
    """View pixels -> original-image pixels (undo flip, resize, crop).

    Args:
        boxes: (N, 4) x1y1x2y2 in view pixels.
        view: the view's geometry.

    Returns:
        (N, 4) x1y1x2y2 in original-image pixels.
    """
    boxes = _as_boxes(boxes)
    if view.flipped:
        boxes = _flip_x(boxes, view.size[0])
    sx, sy = view.scale
    x0, y0 = view.crop[:2]
    return boxes / np.array([sx, sy, sx, sy]) + np.array([x0, y0, x0, y0])


def project_boxes(boxes: np.ndarray, src: ViewGeometry, dst: ViewGeometry) -> np.ndarray:
    """Boxes in ``src`` view pixels -> the same image regions in ``dst`` view pixels.

    E.g. MaskCo's masked box: the positive key box (key-view pixels)
    projected into the query view.
    """
    return image_to_view(view_to_image(boxes, src), dst)


def view_overlap(a: ViewGeometry, b: ViewGeometry) -> Optional[Tuple[float, ...]]:
    """The region two crops share, original-image pixels, or None if disjoint."""
    x1, y1 = max(a.crop[0], b.crop[0]), max(a.crop[1], b.crop[1])
    x2, y2 = min(a.crop[2], b.crop[2]), min(a.crop[3], b.crop[3])
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def sample_boxes(rng: np.random.Generator, num: int, region: Tuple[float, float, float, float],
                 min_side: float, max_side: float) -> np.ndarray:
    """Boxes with sides drawn uniformly in ``[min_side, max_side]``, inside ``region``.

    Sides larger than the region are clipped to it, so every box fits.

    Args:
        rng: the random generator.
        num: how many boxes.
        region: ``(x1, y1, x2, y2)`` the boxes must lie in.
        min_side, max_side: side range, same pixels as ``region``.

    Returns:
        (num, 4) x1y1x2y2.
    """
    if min_side <= 0 or max_side < min_side:
        raise ValueError(f'need 0 < min_side <= max_side, got {min_side}, {max_side}')
    rx1, ry1, rx2, ry2 = region
    w = np.minimum(rng.uniform(min_side, max_side, size=num), rx2 - rx1)
    h = np.minimum(rng.uniform(min_side, max_side, size=num), ry2 - ry1)
    x1 = rx1 + rng.uniform(0, 1, size=num) * (rx2 - rx1 - w)
    y1 = ry1 + rng.uniform(0, 1, size=num) * (ry2 - ry1 - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


def sample_boxes_with_iou_below(rng: np.random.Generator, anchor: np.ndarray, num: int,
                                region: Tuple[float, float, float, float], min_side: float,
                                max_side: float, max_iou: float, max_rounds: int = 20
                                ) -> np.ndarray:
    """``num`` boxes inside ``region`` whose IoU with ``anchor`` is below ``max_iou``.

    Draws candidates in vectorised rounds and keeps those that qualify. If a
    region is too small for enough of them (every box overlaps the anchor),
    the remaining slots take the candidates of lowest IoU seen, so the call
    always returns ``num`` boxes; check the IoU if the bound must hold.

    Args:
        anchor: (4,) the positive box. Other arguments: as :func:`sample_boxes`.

    Returns:
        (num, 4) x1y1x2y2.
    """
    kept, pool = [], []
    for _ in range(max_rounds):
        cand = sample_boxes(rng, max(4 * num, 16), region, min_side, max_side)
        ious = box_iou(cand, anchor[None])[:, 0]
        kept.extend(cand[ious < max_iou])
        pool.append((ious, cand))
        if len(kept) >= num:
            return np.array(kept[:num])
    ious = np.concatenate([p[0] for p in pool])
    cands = np.concatenate([p[1] for p in pool])
    fill = cands[np.argsort(ious)[:num - len(kept)]]
    return np.concatenate([np.array(kept).reshape(-1, 4), fill])[:num]
