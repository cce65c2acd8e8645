"""Small drawing helpers shared by the browse_* tools (RGB uint8 panels)."""
from typing import List, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.visualization import Visualizer


def draw_panel(vis: Visualizer, rgb: np.ndarray, height: int,
               boxes_and_styles: Sequence[Tuple[np.ndarray, tuple, int]] = (),
               label: str = '') -> np.ndarray:
    """``rgb`` (H, W, 3) resized to ``height`` (nearest), boxes drawn on it.

    Args:
        boxes_and_styles: ``(boxes (N, 4) x1y1x2y2 in rgb's pixels, colour,
            line width)`` triples, drawn in order.
        label: text in the top-left corner.
    """
    scale = height / rgb.shape[0]
    shown = mmcv.imresize(rgb, (max(1, round(rgb.shape[1] * scale)), height),
                          interpolation='nearest')
    vis.set_image(shown)
    for boxes, colour, width in boxes_and_styles:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if len(boxes):
            vis.draw_bboxes(boxes * scale, edge_colors=[colour], line_widths=width, alpha=1.0)
    if label:
        vis.draw_texts(label, np.array([4, 4]), colors='white', font_sizes=10,
                       bboxes=dict(facecolor='black', alpha=0.6, pad=1))
    return vis.get_image()


def colourise_ids(ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """(H, W) integer ids -> (H, W, 3) uint8, one fixed random colour per id."""
    values, inverse = np.unique(ids, return_inverse=True)
    rng = np.random.default_rng(seed)
    palette = rng.integers(40, 256, size=(len(values), 3)).astype(np.uint8)
    return palette[inverse.reshape(ids.shape)]


def overlay(rgb: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a colour map over an image."""
    return (rgb.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
            ).astype(np.uint8)


def tile(rows: List[List[np.ndarray]], gap: int = 6) -> np.ndarray:
    """Panels of equal height side by side, rows stacked, white gaps."""
    lines = []
    for panels in rows:
        h = panels[0].shape[0]
        parts = []
        for i, p in enumerate(panels):
            if i:
                parts.append(np.full((h, gap, 3), 255, np.uint8))
            parts.append(p)
        lines.append(np.concatenate(parts, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=255)
             for line in lines]
    return np.concatenate(lines, axis=0)
