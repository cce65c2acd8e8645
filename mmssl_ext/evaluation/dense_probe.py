"""A dense frozen probe: per-cell linear classification of whole scenes.

Region-level pretraining exists to help dense tasks, which the crop probe
(:mod:`mmssl_ext.evaluation.probe`) does not see. Here a frozen backbone
embeds whole scenes; every cell of a feature map (conv4: stride 16, conv5:
stride 32, in pixels of the backbone's input) gets the majority class of the
scene pixels under it, background included, and one linear classifier over
all cells (:class:`~mmssl_ext.evaluation.probe.LinearClassifier`, the crop
probe's convex, deterministic fit) is trained on the train scenes. On the val
scenes the cell logits are bilinearly upsampled to the semantic map and
scored per pixel with mmseg's IoU metric: mIoU and pixel accuracy.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mmssl_ext.utils.image_listing import read_coco

from .probe import LinearClassifier, frozen_stage_outputs


def load_semantic_scenes(data_root: str, split: str, num: Optional[int] = None
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scenes and their semantic maps, as the synthetic scenes lay them out
    (``images/{split}/NAME``, ``seg/{split}/NAME``, the names in the order of
    ``annotations/instances_{split}.json``).

    Args:
        num: the first ``num`` scenes only (all when None).

    Returns:
        images: (N, 3, H, W) uint8 RGB.
        semantic: (N, H, W) int64, 0 background, ``c + 1`` for class ``c``.
    """
    ann_file = osp.join(data_root, 'annotations', f'instances_{split}.json')
    coco = read_coco(ann_file, ('images', 'categories'),
                     'the dense probe reads the scenes of a COCO instances file')
    images, maps = [], []
    for info in coco['images'][:num]:
        image_path = osp.join(data_root, 'images', split, info['file_name'])
        map_path = osp.join(data_root, 'seg', split, info['file_name'])
        if not osp.isfile(map_path):
            raise FileNotFoundError(
                f'{map_path}: no semantic map for {image_path}. Fix: the dense probe needs '
                'seg/{split}/ beside images/{split}/ (tools/misc/make_synthetic_scenes.py '
                'writes both)')
        try:
            image = np.asarray(Image.open(image_path).convert('RGB'))
            semantic = np.asarray(Image.open(map_path))
        except (OSError, ValueError) as err:
            raise RuntimeError(f'cannot read {image_path!r} or its map for the dense probe: '
                               f'{err}') from err
        if semantic.shape != image.shape[:2]:
            raise ValueError(f'{map_path}: map of {semantic.shape} for an image of '
                             f'{image.shape[:2]}')
        images.append(torch.from_numpy(image.copy()).permute(2, 0, 1))
        maps.append(torch.from_numpy(semantic.astype(np.int64)))
    if not images:
        raise ValueError(f'{ann_file!r} lists no image to probe')
    return torch.stack(images), torch.stack(maps)


def semantic_classes(data_root: str, split: str = 'train') -> int:
    """The classes of the scenes' semantic maps: the categories of
    ``annotations/instances_{split}.json`` plus the background (0)."""
    ann_file = osp.join(data_root, 'annotations', f'instances_{split}.json')
    return len(read_coco(ann_file, ('categories', ), 'the dense probe reads the classes of '
                         'its semantic maps there')['categories']) + 1


def cell_majority_labels(semantic: torch.Tensor, grid: Tuple[int, int],
                         num_classes: int) -> torch.Tensor:
    """The majority class of the pixels under each cell of a feature grid.

    Args:
        semantic: (N, H, W) int64 in ``0..num_classes - 1`` (background is a
            class); H and W multiples of the grid.
        grid: (h, w) cells of the feature map.

    Returns:
        (N, h, w) int64; a tie goes to the lower class.
    """
    n, height, width = semantic.shape
    h, w = grid
    if height % h or width % w:
        raise ValueError(f'a {height}x{width} map does not split into {h}x{w} equal cells')
    one_hot = F.one_hot(semantic, num_classes).view(n, h, height // h, w, width // w,
                                                    num_classes)
    return one_hot.sum(dim=(2, 4)).argmax(dim=-1)


def upsampled(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) uint8 images resized (bilinear) to ``size`` x ``size``, so
    that a coarse stage keeps enough cells (128 px scenes give conv5 4x4;
    at 256 px, 8x8). The semantic maps stay as they are: a cell of an h x w
    map covers H/h x W/w of their pixels whatever the input size."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode='bilinear', align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def dense_features(backbone: nn.Module, images: torch.Tensor, mean: Sequence[float],
                   std: Sequence[float], batch_size: int = 64) -> List[torch.Tensor]:
    """The feature maps of every stage a frozen backbone returns.

    Args:
        backbone: returns a tuple of maps (mmpretrain convention), e.g. a
            ResNet with ``out_indices=(2, 3)``: conv4 (stride 16) and conv5
            (stride 32), in pixels of ``images``.
        images: (N, 3, H, W) uint8 RGB (:func:`upsampled` where needed).
        mean, std: per-channel normalisation in 0..255 units.

    Returns:
        One (N, C_i, h_i, w_i) float32 tensor per stage.
    """
    return frozen_stage_outputs(backbone, images, mean, std, batch_size, lambda out: out.float())


def segmentation_scores(pred: torch.Tensor, gt: torch.Tensor, num_classes: int) -> Dict:
    """mmseg's IoU metric over whole splits.

    Args:
        pred, gt: (N, H, W) int64 class maps.

    Returns:
        ``miou`` and ``pixel_accuracy`` in percent, and ``iou`` per class
        (NaN for a class neither predicted nor present), as mmseg's
        ``IoUMetric`` computes them (mIoU the mean over non-NaN classes).
    """
    from mmseg.evaluation.metrics import IoUMetric
    areas = [IoUMetric.intersect_and_union(p, g, num_classes, ignore_index=255)
             for p, g in zip(pred, gt)]
    totals = [sum(area[i] for area in areas) for i in range(4)]
    metrics = IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU'])
    iou = metrics['IoU']
    return dict(miou=float(np.nanmean(iou)) * 100, pixel_accuracy=float(metrics['aAcc']) * 100,
                iou=[float(v) * 100 for v in iou])


def dense_linear_probe(train_feats: torch.Tensor, train_semantic: torch.Tensor,
                       val_feats: torch.Tensor, val_semantic: torch.Tensor, num_classes: int,
                       max_train_cells: Optional[int] = None, seed: int = 0,
                       weight_decay: float = 1e-4, max_iter: int = 1000) -> Dict:
    """Fit a linear classifier per cell on the train maps, score the val maps.

    Args:
        train_feats, val_feats: (N, C, h, w) feature maps of one stage.
        train_semantic, val_semantic: (N, H, W) int64 class maps (0 background).
        num_classes: classes including background.
        max_train_cells: fit on this many train cells at most, drawn without
            replacement with ``seed`` (all when None).

    Returns:
        :func:`segmentation_scores` of the val scenes, plus ``train_cells``
        (the cells fitted) and ``grid`` (h, w).
    """
    n, channels, h, w = train_feats.shape
    cells = cell_majority_labels(train_semantic, (h, w), num_classes).reshape(-1)
    x = train_feats.permute(0, 2, 3, 1).reshape(-1, channels)
    if max_train_cells is not None and max_train_cells < len(x):
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        keep = keep[:max_train_cells].sort().values
        x, cells = x[keep], cells[keep]
    classifier = LinearClassifier.fit(x, cells, num_classes, weight_decay, max_iter)
    m, _, vh, vw = val_feats.shape
    logits = classifier.logits(val_feats.permute(0, 2, 3, 1).reshape(-1, channels))
    logits = logits.view(m, vh, vw, num_classes).permute(0, 3, 1, 2)
    logits = F.interpolate(logits, size=val_semantic.shape[-2:], mode='bilinear',
                           align_corners=False)
    scores = segmentation_scores(logits.argmax(1), val_semantic, num_classes)
    scores.update(train_cells=len(x), grid=[h, w])
    return scores


def dense_probe_backbone(backbone: nn.Module, train: Tuple[torch.Tensor, torch.Tensor],
                         val: Tuple[torch.Tensor, torch.Tensor], mean: Sequence[float],
                         std: Sequence[float], num_classes: int,
                         stages: Sequence[str] = ('conv4', 'conv5'),
                         max_train_cells: Optional[int] = None,
                         seed: int = 0) -> Dict[str, Dict]:
    """:func:`dense_linear_probe` on every stage a frozen backbone returns.

    Args:
        train, val: ``(images, semantic)``: the images as the backbone sees
            them (:func:`upsampled` where needed), the maps of
            :func:`load_semantic_scenes`.
        stages: a name per returned stage, in order.
        max_train_cells, seed: see :func:`dense_linear_probe`.

    Returns:
        ``{stage: scores}``.
    """
    train_maps = dense_features(backbone, train[0], mean, std)
    val_maps = dense_features(backbone, val[0], mean, std)
    if len(train_maps) != len(stages):
        raise ValueError(f'the backbone returns {len(train_maps)} stages, named {list(stages)}')
    return {stage: dense_linear_probe(ftr, train[1], fval, val[1], num_classes,
                                      max_train_cells, seed)
            for stage, ftr, fval in zip(stages, train_maps, val_maps)}
