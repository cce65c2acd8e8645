"""Region masks for DetCon: FH, grid and ground-truth id maps; feature-grid maths.

An *id map* is an integer image (H, W) whose value at a pixel names the region
(mask) the pixel belongs to; ids are stored as uint16 (uint8 overflows above
255 FH segments). Ids are only compared for equality, and the same id in the
two views of an image names the same region, because both views crop one map.

The first three functions make id maps (numpy, per image, in the data
pipeline); :func:`majority_ids` maps a batch of them onto a feature grid
(torch, vectorised: the DetConCells transform and the visualisers call it).
Drawing ids and pooling features over them act on features, and live with
the RoI pooling in ``mmssl_ext/models/utils/region_pooling.py``.
"""
from typing import Sequence, Tuple

import numpy as np
import torch

ID_DTYPE = np.uint16
MAX_REGIONS = int(np.iinfo(ID_DTYPE).max) + 1


def felzenszwalb_ids(image: np.ndarray, scale: float = 1000, min_size: int = 1000,
                     sigma: float = 0.8) -> np.ndarray:
    """Felzenszwalb-Huttenlocher segmentation (scikit-image) as a uint16 id map.

    Args:
        image: (H, W, 3) uint8 at full resolution (DetCon's official masks are
            computed on the unresized image), RGB or BGR (FH uses colour
            distances, so the channel order does not matter).
        scale, min_size, sigma: ``skimage.segmentation.felzenszwalb``'s; the
            official DetCon settings are 1000, 1000 and the default 0.8.

    Returns:
        (H, W) uint16 ids 0..K-1.
    """
    from skimage.segmentation import felzenszwalb
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'FH expects an (H, W, 3) uint8 image, got {image.shape} {image.dtype}')
    segments = felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)
    if segments.max() >= MAX_REGIONS:
        raise ValueError(f'{segments.max() + 1} FH segments do not fit uint16 ids; '
                         'raise scale/min_size')
    return segments.astype(ID_DTYPE)


def grid_ids(height: int, width: int, n: int) -> np.ndarray:
    """An n x n grid of equal cells, ids row-major (n = 1: one global mask).

    Returns:
        (height, width) uint16; pixel (y, x) is in cell
        ``(y * n // height) * n + x * n // width``.
    """
    if n < 1 or n * n > MAX_REGIONS:
        raise ValueError(f'grid size must be in 1..256, got {n}')
    rows = (np.arange(height) * n) // height
    cols = (np.arange(width) * n) // width
    return (rows[:, None] * n + cols[None, :]).astype(ID_DTYPE)


def instance_ids(masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Ground-truth instance masks painted into one id map.

    Args:
        masks: binary (H, W) masks, in annotation order; a later instance
            covers an earlier one where they overlap.

    Returns:
        (H, W) uint16: 0 where no instance is (the background is a region
        too), instance i at ``i + 1``.
    """
    if len(masks) + 1 > MAX_REGIONS:
        raise ValueError(f'{len(masks)} instances do not fit uint16 ids')
    ids = np.zeros((height, width), ID_DTYPE)
    for i, mask in enumerate(masks):
        if mask.shape != (height, width):
            raise ValueError(f'instance mask {i} is {mask.shape}, the image {(height, width)}')
        ids[mask.astype(bool)] = i + 1
    return ids


def majority_ids(ids: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """The id that covers most pixels of each feature cell.

    Pixel (y, x) of an (H, W) view belongs to cell ``(y * gh // H, x * gw // W)``
    (for a 224 px view and a 7x7 grid: 32x32 pixel cells). Ties go to the
    smallest id, so the result is deterministic.

    Args:
        ids: (B, H, W) integer id maps of a batch of views.
        grid: (gh, gw) feature-map size, e.g. (7, 7) for ResNet-50 C5 at 224 px.

    Returns:
        (B, gh * gw) long ids, cells row-major.
    """
    b, h, w = ids.shape
    gh, gw = grid
    device = ids.device
    rows = (torch.arange(h, device=device) * gh) // h
    cols = (torch.arange(w, device=device) * gw) // w
    cell = (rows[:, None] * gw + cols[None, :]).expand(b, h, w)
    # Rank ids within each image (sorted, so id order is kept), then one
    # bincount over (image, cell, rank): no Python loop over pixels or images,
    # and memory B * cells * (ids of the busiest image), not * ids of the batch.
    base = int(ids.max()) + 1
    image = torch.arange(b, device=device).view(b, 1, 1)
    values, compact = torch.unique(ids.long() + image * base, return_inverse=True)
    first = torch.searchsorted(values, torch.arange(b, device=device) * base)
    rank = compact - first.view(b, 1, 1)
    k = int(rank.max()) + 1
    flat_cell = cell + image * (gh * gw)
    counts = torch.bincount((flat_cell * k + rank).reshape(-1), minlength=b * gh * gw * k)
    winner = counts.view(b, gh * gw, k).argmax(dim=2)  # first max: the smallest id
    return values[first.view(b, 1) + winner] % base
