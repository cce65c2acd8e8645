"""MaskCo's mask prediction head seen through its response maps (Fig. 6).

An image and its copy with the central region masked as the model masks it
go through the backbone (conv5) and the MPH; each cell's response is the L2
norm of its feature vector over channels. The paper's reading: in the masked
image, conv5 responds little inside the masked region, and the MPH recovers
the response there.
"""
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn


def central_box(size: int, side: int) -> torch.Tensor:
    """(4,) float32 x1y1x2y2, in pixels of a ``size`` x ``size`` view, of the
    central ``side`` x ``side`` square (the paper: 64 of 224)."""
    if not 0 < side <= size:
        raise ValueError(f'the masked square ({side} px) must fit the view ({size} px)')
    start = (size - side) / 2
    return torch.tensor([start, start, start + side, start + side], dtype=torch.float32)


def response_map(features: torch.Tensor) -> torch.Tensor:
    """(C, h, w) features -> (h, w): the L2 norm over channels of each cell."""
    return features.float().norm(dim=0)


def inside_fraction(box: torch.Tensor, size: int, grid: Sequence[int]) -> torch.Tensor:
    """(h, w) fraction of each cell of an h x w grid over a ``size`` px view
    that lies inside ``box`` (x1y1x2y2, view pixels)."""
    h, w = grid
    ys = torch.linspace(0, size, h + 1)
    xs = torch.linspace(0, size, w + 1)
    cover_y = (torch.minimum(ys[1:], box[3]) - torch.maximum(ys[:-1], box[1])).clamp(min=0)
    cover_x = (torch.minimum(xs[1:], box[2]) - torch.maximum(xs[:-1], box[0])).clamp(min=0)
    return (cover_y[:, None] * cover_x[None, :]) / ((size / h) * (size / w))


def inside_over_outside(response: torch.Tensor, box: torch.Tensor, size: int) -> float:
    """Mean response of the cells wholly inside ``box`` over that of the cells
    wholly outside it: below 1 where the masked region responds less."""
    fraction = inside_fraction(box, size, response.shape)
    inside, outside = response[fraction >= 1 - 1e-6], response[fraction <= 1e-6]
    if not len(inside) or not len(outside):
        raise ValueError('the box covers no whole cell, or every cell: choose a larger '
                         'view or another mask size')
    return float(inside.mean() / outside.mean().clamp(min=1e-12))


@torch.no_grad()
def mph_response_maps(model: nn.Module, image: torch.Tensor, mean: Sequence[float],
                      std: Sequence[float], box: torch.Tensor,
                      mask_mode: str = 'after_norm') -> Dict[str, Dict[str, torch.Tensor]]:
    """conv5 and MPH response maps of an image and of its masked copy.

    Args:
        model: a MaskCo model (eval mode): ``model.neck(model.backbone(x))``
            maps (B, C, h, w) feature maps to feature maps, and
            ``model.zero_masked_boxes`` masks as in training.
        image: (3, S, S) uint8 RGB view.
        mean, std: the model's normalisation, 0..255 units.
        box: (4,) x1y1x2y2 in view pixels: the masked region (a pixel is
            masked when its centre lies in it, as in training).
        mask_mode: ``'after_norm'`` zeroes the normalised input (MaskCo's
            default: the image mean), ``'before_norm'`` the pixels (black).

    Returns:
        ``{'image' | 'masked': {'conv5' | 'mph': (h, w) response}}`` and
        ``'masked_input'``: the masked view as the network saw it, (3, S, S)
        uint8 for display.
    """
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    pixels = image.float()
    boxes = box[None].float()
    if mask_mode == 'before_norm':
        masked_pixels = model.zero_masked_boxes(pixels[None], boxes)[0]
        masked = (masked_pixels - mean_t) / std_t
    elif mask_mode == 'after_norm':
        masked = model.zero_masked_boxes(((pixels - mean_t) / std_t)[None], boxes)[0]
        masked_pixels = masked * std_t + mean_t
    else:
        raise ValueError(f"mask_mode must be 'after_norm' or 'before_norm', not {mask_mode!r}")
    device = next(model.parameters()).device
    batch = torch.stack([(pixels - mean_t) / std_t, masked]).to(device)
    conv5 = model.backbone(batch)
    mph = model.neck(conv5)
    conv5 = conv5[-1] if isinstance(conv5, (tuple, list)) else conv5
    mph = mph[-1] if isinstance(mph, (tuple, list)) else mph
    maps = {name: dict(conv5=response_map(conv5[i]).cpu(), mph=response_map(mph[i]).cpu())
            for i, name in enumerate(('image', 'masked'))}
    maps['masked_input'] = masked_pixels.round().clamp(0, 255).to(torch.uint8)
    return maps


def heatmap(response: torch.Tensor, size: int, vmax: float) -> np.ndarray:
    """(h, w) response -> (size, size, 3) uint8 RGB heat map (matplotlib's
    'inferno'), bilinearly upsampled, 0..``vmax`` mapped to the colour scale
    (one scale for the maps compared side by side)."""
    import matplotlib
    upsampled = torch.nn.functional.interpolate(
        response[None, None], size=(size, size), mode='bilinear', align_corners=False)[0, 0]
    scaled = (upsampled / max(vmax, 1e-12)).clamp(0, 1).numpy()
    return (matplotlib.colormaps['inferno'](scaled)[..., :3] * 255).astype(np.uint8)
