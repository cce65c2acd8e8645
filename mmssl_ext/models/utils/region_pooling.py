"""Features pooled over regions: RoI features of boxes (torchvision's
RoIAlign, MaskCo), and mask pooling over the cells of sampled ids (DetCon).

torchvision's ``roi_align`` rather than mmcv's: pretraining then needs no
compiled mmcv ops (only mmdet/mmseg transfer does), it reads channels-last
maps correctly (mmcv's CPU kernel assumes NCHW memory), and it has CPU and
CUDA kernels with an autocast rule (mmcv's has no bfloat16 kernel).
"""
from typing import Optional

import torch
from torchvision.ops import roi_align


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """Per-image boxes -> RoI rows (the layout of torchvision's and mmcv's RoIAlign).

    Args:
        boxes: (B, N, 4) x1y1x2y2, view pixels.

    Returns:
        (B * N, 5) rows ``[image index, x1, y1, x2, y2]``, image-major.
    """
    b, n = boxes.shape[:2]
    index = torch.arange(b, dtype=boxes.dtype, device=boxes.device).repeat_interleave(n)
    return torch.cat([index[:, None], boxes.reshape(b * n, 4)], dim=1)


def region_features(features: torch.Tensor, boxes: torch.Tensor, stride: int,
                    output_size: int = 7, sampling_ratio: int = 0) -> torch.Tensor:
    """Average RoI-aligned features of each box.

    ``aligned=True`` (pixel-centre convention): a box in view pixels maps to
    the feature map by ``x / stride - 0.5``, the convention of torchvision and
    Detectron2.

    Args:
        features: (B, C, H / stride, W / stride) feature map of a view.
        boxes: (B, N, 4) x1y1x2y2 in that view's pixels.
        stride: pixels of the view per feature cell (32 for ResNet C5).
        output_size: RoIAlign bins per side before averaging.
        sampling_ratio: samples per bin (0: adaptive, ceil(bin size), as in
            torchvision and mmcv).

    Returns:
        (B, N, C) region features.
    """
    b, n = boxes.shape[:2]
    pooled = roi_align(features, boxes_to_rois(boxes.to(features.dtype)), output_size,
                       spatial_scale=1.0 / stride, sampling_ratio=sampling_ratio, aligned=True)
    return pooled.mean(dim=(2, 3)).view(b, n, -1)


def roi_align_nondeterministic_on_cuda() -> Optional[str]:
    """Why ``region_features``' backward would not be deterministic on CUDA in
    this environment, or None when it is.

    Under deterministic algorithms on CUDA, torchvision runs ``roi_align`` as
    its pure-PyTorch version compiled by ``torch.compile`` (a deterministic
    backward) wherever ``torch.compile`` can target CUDA, i.e. triton is
    installed (torchvision's own test, ``is_compile_supported``); elsewhere it
    runs its CUDA kernel, whose backward adds with atomics.
    """
    try:
        from torch._dynamo.utils import is_compile_supported
        if is_compile_supported('cuda'):
            return None
    except Exception:  # noqa: BLE001 (no dynamo, no triton: the CUDA kernel it is)
        pass
    return ('torchvision.ops.roi_align backward (atomic adds: torch.compile has no triton '
            'here, so torchvision cannot use its deterministic version)')


def sample_present_ids(cell_ids: torch.Tensor, num_samples: int,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw ids, uniformly and with replacement, among the ids present in each view.

    An id is present in a view when it wins at least one cell.

    Args:
        cell_ids: (B, N) ids per feature cell (:func:`majority_ids`).
        num_samples: ids per view (DetCon: 16).

    Returns:
        (B, num_samples) long ids.
    """
    # Sorted per view, each id's first cell stands for it: drawing cells with
    # weight 1 on those is a uniform draw over the present ids. No unique():
    # data-dependent output size makes the host wait for the device.
    ordered, _ = cell_ids.sort(dim=1)
    first = torch.ones_like(ordered, dtype=torch.float)
    first[:, 1:] = (ordered[:, 1:] != ordered[:, :-1]).float()
    picks = torch.multinomial(first, num_samples, replacement=True, generator=generator)
    return ordered.gather(1, picks)


def mask_pool(features: torch.Tensor, cell_ids: torch.Tensor,
              sample_ids: torch.Tensor) -> torch.Tensor:
    """Mean of the feature vectors of the cells of each sampled mask.

    Args:
        features: (B, C, gh, gw) feature map (e.g. ResNet C5).
        cell_ids: (B, gh * gw) id of each cell, row-major.
        sample_ids: (B, R) ids to pool; an id that owns no cell pools to zeros.

    Returns:
        (B, R, C) pooled features.
    """
    b, c = features.shape[:2]
    weights = (cell_ids[:, None, :] == sample_ids[:, :, None]).to(features.dtype)  # (B, R, N)
    weights = weights / weights.sum(dim=2, keepdim=True).clamp(min=1.0)
    return torch.bmm(weights, features.reshape(b, c, -1).transpose(1, 2))
