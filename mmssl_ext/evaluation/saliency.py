"""How well a saliency map finds the foreground: IoU against known masks."""
from typing import Dict, Iterable, Tuple

import numpy as np

from mmssl_ext.structures import saliency_map


def foreground_iou(saliency: np.ndarray, foreground: np.ndarray,
                   threshold: float = 0.5) -> float:
    """IoU of ``saliency >= threshold`` with a boolean ``foreground``, both (H, W).

    An empty prediction of an empty foreground scores 1 (nothing to find,
    nothing found).
    """
    predicted = saliency >= threshold
    union = np.logical_or(predicted, foreground).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(predicted, foreground).sum() / union)


def saliency_foreground_iou(scenes: Iterable[Tuple[np.ndarray, np.ndarray]], method: str,
                            threshold: float = 0.5) -> Dict[str, float]:
    """Mean IoU (and its standard error) of ``method``'s thresholded maps.

    Args:
        scenes: pairs of (H, W, 3) uint8 RGB image and (H, W) bool foreground
            (e.g. the synthetic scenes' instance masks, united).
        method: a name of :data:`mmssl_ext.structures.SALIENCY_METHODS`.
        threshold: the foreground threshold ``SaliencyCopyPaste`` applies.

    Returns:
        ``dict(method, images, mean_iou, sem)``.
    """
    ious = np.array([foreground_iou(saliency_map(image, method), fg, threshold)
                     for image, fg in scenes])
    sem = float(ious.std(ddof=1) / np.sqrt(len(ious))) if len(ious) > 1 else float('nan')
    return dict(method=method, images=len(ious), mean_iou=float(ious.mean()), sem=sem)
