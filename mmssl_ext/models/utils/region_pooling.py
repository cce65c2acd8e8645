"""RoI features of boxes on a feature map (torchvision's RoIAlign).

torchvision's ``roi_align`` rather than mmcv's: pretraining then needs no
compiled mmcv ops (only mmdet/mmseg transfer does), it reads channels-last
maps correctly (mmcv's CPU kernel assumes NCHW memory), and it has CPU and
CUDA kernels with an autocast rule (mmcv's has no bfloat16 kernel).
"""
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
