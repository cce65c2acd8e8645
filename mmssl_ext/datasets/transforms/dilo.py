"""DiLo's copy-paste view (Zhao et al., AAAI 2021): the salient object on a new background."""
import os.path as osp
import random
from collections import deque
from typing import Optional, Sequence

import mmcv
import mmengine
import numpy as np
from mmcv.transforms import BaseTransform
from skimage.filters import gaussian

from mmssl_ext.datasets.precomputed_maps import mirrored_path
from mmssl_ext.registry import TRANSFORMS
from mmssl_ext.structures import SALIENCY_METHODS, paste_foreground, saliency_map

SALIENCY_PARAMS_FILE = 'saliency_params.json'
BACKGROUNDS = ('grayscale', 'image', 'texture')
BLENDINGS = ('none', 'gaussian', 'mix')


@TRANSFORMS.register_module()
class LoadSaliency(BaseTransform):
    """Load the saliency map of the image as ``results['saliency']`` ((H, W)
    float32 in [0, 1]).

    Maps are made offline by
    ``tools/dataset_converters/generate_saliency_maps.py`` (uint8 PNGs that
    mirror the image tree), or by any method written in that layout.

    Args:
        saliency_dir (str): the maps' root.
        img_dir (str): the image root the maps mirror.
        online (bool): compute a map here when a file is missing, instead of
            failing (for small datasets).
        method (str): the online map's method: ``'rbd'`` (robust background
            detection, the paper's traditional saliency) or
            ``'spectral_residual'``. Defaults to ``'rbd'``.
    """

    def __init__(self, saliency_dir: str, img_dir: str, online: bool = False,
                 method: str = 'rbd') -> None:
        if method not in SALIENCY_METHODS:
            raise ValueError(f'LoadSaliency: method must be one of {sorted(SALIENCY_METHODS)}, '
                             f'got {method!r}')
        self.saliency_dir, self.img_dir, self.online = saliency_dir, img_dir, online
        self.method = method

    def transform(self, results: dict) -> dict:
        img = results['img']
        path = mirrored_path(self.saliency_dir, self.img_dir, results['img_path'])
        if osp.isfile(path):
            saliency = mmcv.imread(path, flag='grayscale')
            if saliency is None:
                raise ValueError(f'saliency map {path} of image {results["img_path"]} cannot '
                                 'be read; delete it and rerun generate_saliency_maps.py')
            saliency = saliency.astype(np.float32) / 255.
        elif self.online:
            saliency = saliency_map(mmcv.bgr2rgb(img), self.method)
        else:
            raise FileNotFoundError(
                f'no saliency map for image {results["img_path"]} (expected {path}). Run '
                'python tools/dataset_converters/generate_saliency_maps.py for this dataset, '
                'or set online=True in LoadSaliency')
        if saliency.shape != img.shape[:2]:
            raise ValueError(f'saliency map {path} is {saliency.shape}, image '
                             f'{results["img_path"]} is {img.shape[:2]}: maps must be made at '
                             'full resolution')
        results['saliency'] = saliency
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(saliency_dir={self.saliency_dir!r}, '
                f'online={self.online})')


@TRANSFORMS.register_module()
class SaliencyCopyPaste(BaseTransform):
    """With probability ``prob``, keep the salient foreground of the image and
    replace the rest with another background (DiLo's copy-and-paste).

    The foreground is ``saliency >= threshold`` of ``results['saliency']``
    ((H, W) in [0, 1], or uint8 0-255, from :class:`LoadSaliency`), or of a
    map computed here by ``method`` when the results carry none. Put it
    first in each view's pipeline (before the crop, which does not crop the
    map): each view then draws its own paste and background.

    Args:
        prob (float): how often an image is pasted (the paper's default 0.3;
            100% hurts: -13 points in its ablation).
        backgrounds (sequence of str): drawn uniformly per image from
            ``'grayscale'`` (a flat gray of random level, the paper's best),
            ``'image'`` (another image of the dataset: one of the last
            ``pool_size`` images this worker has seen, resized; a flat gray
            for the worker's very first image) and
            ``'texture'`` (an image of ``texture_dir``).
        blending (str): ``'none'`` (the binary mask), ``'gaussian'`` (the
            mask smoothed with ``sigma``) or ``'mix'`` (either, at random,
            the paper's best).
        threshold (float): foreground threshold on the saliency map.
        sigma (float): Gaussian blending width, as a fraction of the shorter
            image side. Defaults to 0.01.
        texture_dir (str, optional): folder of texture images.
        pool_size (int): images kept for the ``'image'`` background.
        method (str): the saliency method of maps computed here: ``'rbd'``
            (the paper's traditional saliency, the default) or
            ``'spectral_residual'``.

    Images whose foreground is empty are left as they are.
    """

    def __init__(self, prob: float = 0.3, backgrounds: Sequence[str] = ('grayscale', ),
                 blending: str = 'mix', threshold: float = 0.5, sigma: float = 0.01,
                 texture_dir: Optional[str] = None, pool_size: int = 64,
                 method: str = 'rbd') -> None:
        if method not in SALIENCY_METHODS:
            raise ValueError(f'method must be one of {sorted(SALIENCY_METHODS)}, got {method!r}')
        self.method = method
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        unknown = set(backgrounds) - set(BACKGROUNDS)
        if unknown or not backgrounds:
            raise ValueError(f'backgrounds must be a non-empty subset of {BACKGROUNDS}, '
                             f'got {tuple(backgrounds)}')
        if blending not in BLENDINGS:
            raise ValueError(f'blending must be one of {BLENDINGS}, got {blending!r}')
        if 'texture' in backgrounds and not texture_dir:
            raise ValueError("the 'texture' background needs texture_dir (a folder of images)")
        self.prob, self.backgrounds, self.blending = prob, tuple(backgrounds), blending
        self.threshold, self.sigma = threshold, sigma
        self.texture_dir = texture_dir
        self._textures = None
        self._pool = deque(maxlen=pool_size)

    def _background(self, kind: str, shape) -> np.ndarray:
        h, w = shape[:2]
        if kind == 'grayscale':
            return np.full(shape, random.randint(0, 255), np.uint8)
        if kind == 'image':
            if not self._pool:
                return np.full(shape, random.randint(0, 255), np.uint8)
            return _resize_to(random.choice(self._pool), h, w)
        if self._textures is None:
            self._textures = sorted(mmengine.scandir(
                self.texture_dir, suffix=('.jpg', '.jpeg', '.png'), recursive=True))
            if not self._textures:
                raise FileNotFoundError(f'no .jpg/.png texture images in {self.texture_dir}')
        texture = mmcv.imread(osp.join(self.texture_dir, random.choice(self._textures)))
        return _resize_to(texture, h, w)

    def transform(self, results: dict) -> dict:
        img = results['img']
        seen = img
        if random.random() < self.prob:
            saliency = results.get('saliency')
            if saliency is None:
                saliency = saliency_map(mmcv.bgr2rgb(img), self.method)
            saliency = np.asarray(saliency, np.float32)
            if saliency.max() > 1:
                saliency = saliency / 255.
            if saliency.shape != img.shape[:2]:
                raise ValueError(f'saliency map {saliency.shape} does not match image '
                                 f'{results.get("img_path", "")} {img.shape[:2]}')
            mask = (saliency >= self.threshold).astype(np.float32)
            if mask.any():
                blending = self.blending
                if blending == 'mix':
                    blending = random.choice(('none', 'gaussian'))
                if blending == 'gaussian':
                    mask = gaussian(mask, sigma=max(0.5, self.sigma * min(img.shape[:2])))
                kind = random.choice(self.backgrounds)
                results['img'] = paste_foreground(img, self._background(kind, img.shape),
                                                  mask)
                results['dilo_pasted'] = True
        # Backgrounds for later images come from the originals, never from pastes.
        if 'image' in self.backgrounds:
            self._pool.append(seen)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, backgrounds={self.backgrounds}, '
                f'blending={self.blending!r}, threshold={self.threshold})')


def _resize_to(image: np.ndarray, h: int, w: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return mmcv.imresize(image, (w, h))
