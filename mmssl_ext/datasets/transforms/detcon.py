"""DetCon's data: region id maps (FH, grid, ground truth) and mask-aware views.

Loading transforms put an id map of the whole image in ``results['region_ids']``
((H, W) uint16, the image's pixels); :class:`DetConViews` then crops, resizes
and flips image and ids together and writes ``img`` = [view 1, view 2] and
``view_ids`` (2, size, size) int32. Photometric transforms see the image only.
"""
import json
import os.path as osp
import random
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose

from mmssl_ext.datasets.precomputed_maps import mirrored_path
from mmssl_ext.registry import TRANSFORMS
from mmssl_ext.structures import (felzenszwalb_ids, grid_ids, instance_ids, majority_ids,
                                  sample_resized_crop)

FH_PARAMS_FILE = 'fh_params.json'


def fh_mask_path(mask_dir: str, img_dir: str, img_path: str, scale: float) -> str:
    """Where the FH id map of ``img_path`` at ``scale`` is stored.

    ``<mask_dir>/scale<scale>/<image path relative to img_dir, .png>``: the
    image tree mirrored once per scale (uint16 PNG: lossless and compact).
    """
    return mirrored_path(osp.join(mask_dir, f'scale{scale:g}'), img_dir, img_path)


def read_fh_params(mask_dir: str) -> dict:
    """The parameters recorded beside precomputed masks (see generate_fh_masks.py)."""
    path = osp.join(mask_dir, FH_PARAMS_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: no FH masks were generated in {mask_dir!r}. Run '
            f'python tools/dataset_converters/generate_fh_masks.py (or set online=True '
            f'in LoadFHMasks for small datasets)')
    with open(path) as f:
        return json.load(f)


@TRANSFORMS.register_module()
class LoadFHMasks(BaseTransform):
    """Load a Felzenszwalb-Huttenlocher id map precomputed for the image.

    Masks are made offline by ``tools/dataset_converters/generate_fh_masks.py``
    (official settings: scale 1000, min_size 1000, full resolution). When the
    mask directory holds several scales (DetCon's COCO runs: 500, 1000, 1500),
    one is chosen at random per image and epoch.

    Args:
        mask_dir (str): the generator's output directory.
        img_dir (str): the image root the generator was given (image paths
            are mirrored relative to it).
        scales (sequence of float, optional): scales to use; all the
            generated ones by default.
        online (bool): compute FH here when a mask file is missing instead of
            failing (for small datasets; slow on large images). With
            ``online=True`` and no ``fh_params.json``, ``online_scale`` is used.
        online_scale (float): FH scale (and min_size) of online masks.
            Defaults to 1000.
    """

    def __init__(self, mask_dir: str, img_dir: str, scales: Optional[Sequence[float]] = None,
                 online: bool = False, online_scale: float = 1000) -> None:
        self.mask_dir, self.img_dir, self.online = mask_dir, img_dir, online
        self.online_scale = online_scale
        # Read lazily from fh_params.json, so that a pipeline can be built
        # (config checks, visualisers) before the masks exist.
        self._scales = None if scales is None else [float(s) for s in scales]

    @property
    def scales(self) -> List[float]:
        if self._scales is None:
            if self.online and not osp.isfile(osp.join(self.mask_dir, FH_PARAMS_FILE)):
                self._scales = [float(self.online_scale)]
            else:
                self._scales = [float(s) for s in read_fh_params(self.mask_dir)['scales']]
        return self._scales

    def transform(self, results: dict) -> dict:
        img = results['img']
        scale = random.choice(self.scales)
        path = fh_mask_path(self.mask_dir, self.img_dir, results['img_path'], scale)
        if osp.isfile(path):
            ids = mmcv.imread(path, flag='unchanged')
            if ids is None:
                raise ValueError(f'FH mask {path} of image {results["img_path"]} cannot be '
                                 'read; delete it and rerun generate_fh_masks.py')
        elif self.online:
            ids = felzenszwalb_ids(img, scale=scale, min_size=int(scale))
        else:
            raise FileNotFoundError(
                f'no FH mask for image {results["img_path"]} (expected {path}). Run '
                f'python tools/dataset_converters/generate_fh_masks.py for this dataset, '
                f'or set online=True in LoadFHMasks')
        if ids.shape != img.shape[:2]:
            raise ValueError(f'FH mask {path} is {ids.shape}, image {results["img_path"]} is '
                             f'{img.shape[:2]}: masks must be made at full resolution')
        results['region_ids'] = ids.astype(np.uint16)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_dir={self.mask_dir!r}, scales={self._scales}, '
                f'online={self.online})')


@TRANSFORMS.register_module()
class GridMasks(BaseTransform):
    """An n x n spatial grid of masks over the image (n = 1: SimCLR's one mask)."""

    def __init__(self, grid_size: int = 4) -> None:
        self.grid_size = grid_size

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        results['region_ids'] = grid_ids(h, w, self.grid_size)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(grid_size={self.grid_size})'


@TRANSFORMS.register_module()
class InstanceMasksToIds(BaseTransform):
    """Ground-truth instance masks (``results['instances']``, COCO polygons or
    RLE, from ``COCOImageDataset(with_instances=True)``) as an id map;
    id 0 is everything outside the instances."""

    def transform(self, results: dict) -> dict:
        from pycocotools import mask as mask_utils
        h, w = results['img'].shape[:2]
        masks = []
        for inst in results.get('instances', []):
            seg = inst['segmentation']
            if isinstance(seg, list):  # polygons
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get('counts'), list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            masks.append(mask_utils.decode(rle))
        results['region_ids'] = instance_ids(masks, h, w)
        return results


@TRANSFORMS.register_module()
class DetConViews(BaseTransform):
    """Two views of an image and of its region id map, aligned.

    Per view: a RandomResizedCrop draw (``crop_scale``, ``crop_ratio``), the
    same crop of image (bicubic, as the official DetCon and the BYOL
    baseline's ``RandomResizedCrop(interpolation='bicubic', backend='pillow')``)
    and ids (nearest) resized to ``size``, the
    same horizontal flip, then that view's photometric pipeline on the image
    only. ``view_pipelines`` holds one pipeline for both views or one per view
    (BYOL's augmentation is asymmetric: blur 1.0 / 0.1, solarize 0 / 0.2).

    Writes ``img`` = [view 1, view 2] (size, size, 3), ``view_ids``
    (2, size, size) int32, ``view_crops`` (2, 4) x1y1x2y2 in image pixels and
    ``view_flips`` (2,) bool.
    Pack with ``PackInputs(algorithm_keys=['view_ids'])``.
    """

    def __init__(self, size: int = 224, crop_scale: Tuple[float, float] = (0.08, 1.0),
                 crop_ratio: Tuple[float, float] = (3. / 4., 4. / 3.), flip_prob: float = 0.5,
                 view_pipelines: Union[Sequence[dict], Sequence[Sequence[dict]], None] = None,
                 interpolation: str = 'bicubic', backend: str = 'pillow') -> None:
        self.size, self.crop_scale, self.crop_ratio = size, crop_scale, crop_ratio
        self.interpolation, self.backend = interpolation, backend
        self.flip_prob = flip_prob
        pipelines: List[Sequence[dict]]
        if not view_pipelines:
            pipelines = [[], []]
        elif isinstance(view_pipelines[0], dict):
            pipelines = [view_pipelines, view_pipelines]
        elif len(view_pipelines) == 2:
            pipelines = list(view_pipelines)
        else:
            raise ValueError('view_pipelines: one pipeline (a list of transform dicts) for '
                             f'both views, or a list of two; got {len(view_pipelines)} lists')
        self.view_pipelines = [Compose(list(p)) for p in pipelines]

    def transform(self, results: dict) -> dict:
        img, ids = results['img'], results.get('region_ids')
        if ids is None:
            raise KeyError('DetConViews needs results["region_ids"]: put LoadFHMasks, '
                           'GridMasks or InstanceMasksToIds before it in the pipeline')
        h, w = img.shape[:2]
        if ids.shape != (h, w):
            raise ValueError(f'region ids {ids.shape} and image {(h, w)} differ '
                             f'({results.get("img_path", "?")})')
        views, view_ids, crops, flips = [], [], [], []
        for pipeline in self.view_pipelines:
            x1, y1, x2, y2 = sample_resized_crop(w, h, self.crop_scale, self.crop_ratio)
            view = mmcv.imresize(img[y1:y2, x1:x2], (self.size, self.size),
                                 interpolation=self.interpolation, backend=self.backend)
            # Ids are labels, never blended. cv2's INTER_NEAREST samples at
            # floor(x * scale), half a pixel off the pixel-centre grid that
            # bilinear (the image) uses; INTER_NEAREST_EXACT is centre-aligned.
            vids = cv2.resize(ids[y1:y2, x1:x2], (self.size, self.size),
                              interpolation=cv2.INTER_NEAREST_EXACT)
            flipped = np.random.rand() < self.flip_prob
            if flipped:
                view, vids = mmcv.imflip(view, 'horizontal'), mmcv.imflip(vids, 'horizontal')
            views.append(pipeline(dict(img=view))['img'])
            view_ids.append(vids.astype(np.int32))
            crops.append((x1, y1, x2, y2))
            flips.append(flipped)
        results['img'] = views
        results['view_ids'] = np.stack(view_ids)
        results['view_crops'] = np.array(crops, dtype=np.float32)
        results['view_flips'] = np.array(flips)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, crop_scale={self.crop_scale}, '
                f'flip_prob={self.flip_prob})')


@TRANSFORMS.register_module()
class DetConCells(BaseTransform):
    """The mask id of each feature cell of both views.

    What DetCon's step would otherwise compute on the GPU from the full id
    maps (``majority_ids``: ``unique``, ``bincount`` and ``max`` of
    data-dependent size, several waits for the device per view), done here
    per image in the loader's workers. The model then receives (2, cells)
    ids instead of two (size, size) maps, and draws the ids it pools on the
    device (``sample_present_ids``, no wait).

    Reads ``view_ids`` (:class:`DetConViews`); writes ``view_cells`` (2,
    gh * gw) int64: the majority id of each cell of the backbone's last
    feature map, ``gh = ceil(size / feature_stride)`` (what a ResNet's
    padded stride-2 stages give), row-major. Pack with
    ``PackInputs(algorithm_keys=['view_cells'])``.

    Args:
        feature_stride (int): the stride of the feature map pooled, in view
            pixels (ResNet C5: 32). The model checks that the cells match
            its feature map.
    """

    def __init__(self, feature_stride: int = 32) -> None:
        if feature_stride < 1:
            raise ValueError(f'feature_stride must be >= 1, got {feature_stride}')
        self.feature_stride = feature_stride

    def transform(self, results: dict) -> dict:
        ids = results.get('view_ids')
        if ids is None:
            raise KeyError('DetConCells needs results["view_ids"]: put DetConViews before it')
        _, h, w = ids.shape
        grid = (-(-h // self.feature_stride), -(-w // self.feature_stride))
        cells = majority_ids(torch.from_numpy(np.ascontiguousarray(ids)).long(), grid)
        results['view_cells'] = cells.numpy()
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(feature_stride={self.feature_stride})'


__all__ = ['LoadFHMasks', 'GridMasks', 'InstanceMasksToIds', 'DetConViews', 'DetConCells',
           'fh_mask_path', 'read_fh_params']
