"""MaskCo's ResNet distance of a dataset (Zhao et al. 2021, §4.2, Eq. 2, Table 1).

For each image, two views by MoCo's random crop; each view's conv5 feature
map of a frozen backbone, global-average-pooled and unit-normalised over
channels; their squared Euclidean distance. The dataset's figure is the mean
over images. It measures how far two crops of one image are apart in a
supervised network's eyes: small on object-centric data (ImageNet 0.1546),
larger on scenes (COCO 0.1814, CC 0.1782), where two crops often hold
different objects and instance discrimination's "semantic consistency"
assumption fails.
"""
import math
from typing import Callable, Iterable, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch import nn

from mmssl_ext.structures.box_geometry import sample_resized_crop

from .probe import extract_features

# MoCo's (v1 and v2) RandomResizedCrop: area fraction and aspect ratio.
MOCO_CROP_SCALE = (0.2, 1.0)
MOCO_CROP_RATIO = (3. / 4., 4. / 3.)
# torchvision's ImageNet normalisation, in 0..255 units (RGB).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def moco_view_pair(image: np.ndarray, size: int, rng: np.random.RandomState,
                   scale: Tuple[float, float] = MOCO_CROP_SCALE,
                   ratio: Tuple[float, float] = MOCO_CROP_RATIO) -> torch.Tensor:
    """Two random resized crops of one image, as MoCo draws them.

    Args:
        image: (H, W, 3) uint8 RGB.
        size: side of each view, pixels (224 in the paper).
        rng: the draws' generator (``np.random.RandomState``).

    Returns:
        (2, 3, size, size) uint8: the two views, bilinearly resized.
    """
    height, width = image.shape[:2]
    pil = Image.fromarray(image)
    views = []
    for _ in range(2):
        box = sample_resized_crop(width, height, scale, ratio, rng)
        view = pil.resize((size, size), Image.BILINEAR, box=box)
        views.append(torch.from_numpy(np.asarray(view).copy()).permute(2, 0, 1))
    return torch.stack(views)


def pair_distances(features: torch.Tensor) -> torch.Tensor:
    """Eq. 2 for interleaved pairs: ``features`` (2N, C) unit vectors, rows
    2i and 2i + 1 the two views of image i; returns (N,) squared distances
    (0 for identical views, at most 4)."""
    return (features[0::2] - features[1::2]).pow(2).sum(dim=1)


def resnet_distances(backbone: nn.Module, images: Iterable[np.ndarray], size: int = 224,
                     seed: int = 0, mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, images_per_batch: int = 32,
                     scale: Tuple[float, float] = MOCO_CROP_SCALE,
                     ratio: Tuple[float, float] = MOCO_CROP_RATIO,
                     progress: Callable[[int], None] = lambda done: None) -> torch.Tensor:
    """The ResNet distance of every image.

    Args:
        backbone: frozen, returns its feature maps (mmpretrain convention: a
            tuple, the last one conv5, (B, C, h, w)), or one tensor; it is put
            in eval mode (its BatchNorm statistics are used, never updated).
        images: (H, W, 3) uint8 RGB arrays, any sizes.
        size: view side, pixels.
        seed: of the crops' draws: the same seed gives the same views.
        mean, std: the backbone's input normalisation, 0..255 units.
        images_per_batch: images (two views each) per forward pass.
        progress: called with the number of images done after each batch.

    Returns:
        (N,) float32 squared distances, in the order of ``images``.
    """
    rng = np.random.RandomState(seed)
    distances, pending, done = [], [], 0

    def flush() -> None:
        nonlocal done
        views = torch.cat(pending)  # (2n, 3, size, size), pairs interleaved
        features = extract_features(backbone, views, mean, std, batch_size=len(views))[-1]
        distances.append(pair_distances(features))
        done += len(pending)
        pending.clear()
        progress(done)

    for image in images:
        pending.append(moco_view_pair(image, size, rng, scale, ratio))
        if len(pending) == images_per_batch:
            flush()
    if pending:
        flush()
    if not distances:
        raise ValueError('resnet_distances needs at least one image, got none')
    return torch.cat(distances)


def mean_and_standard_error(values: torch.Tensor) -> Tuple[float, float]:
    """The mean of ``values`` (N,) and its standard error, std / sqrt(N)
    (sample std, N - 1; 0 for a single value)."""
    values = values.double()
    if len(values) < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(values.std(unbiased=True)) / math.sqrt(len(values))
