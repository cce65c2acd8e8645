"""Unlabeled image datasets for self-supervised pretraining.

* :class:`COCOImageDataset`: the ``images`` of a COCO annotation file
  (train2017, or the image-info file of unlabeled2017); annotations ignored.
* :class:`ImageListDataset`: a list file, one image per line (Conceptual
  Captions style: the path is the first tab- or space-separated field).
* :class:`ImageFolderDataset`: mmpretrain's ``CustomDataset`` (image
  folders, ImageNet style; ``with_label=False`` for pretraining).

All three skip samples that fail to load or transform, within a budget
(``max_skipped_samples``, see :mod:`mmssl_ext.datasets.bad_samples`).

Each item is ``{'img_path': str}`` plus ``img_id``/``width``/``height`` where
the annotation file has them; the pipeline loads the pixels.
"""
import json
import os.path as osp
from typing import List, Optional

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_file_backend, get_local_path, list_from_file
from mmpretrain.datasets import CustomDataset

from mmssl_ext.registry import DATASETS
from mmssl_ext.utils.image_listing import first_fields, missing_coco_key

from .bad_samples import SkipBadSamplesMixin


def _require_file(path: str, what: str) -> None:
    if not path:
        raise ValueError(f'{what}: ann_file is empty; set it in the config or with '
                         f'--cfg-options train_dataloader.dataset.ann_file=PATH')
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(
            f'{what}: annotation file {path!r} not found. Check data_root/ann_file '
            f'(override with --cfg-options train_dataloader.dataset.data_root=DIR), or '
            f'make the embedded demo data with `python tools/misc/make_synthetic_scenes.py`.')


@DATASETS.register_module()
class COCOImageDataset(SkipBadSamplesMixin, BaseDataset):
    """Images listed in a COCO-format annotation file, without labels.

    Args:
        ann_file (str): COCO json, relative to ``data_root``
            (e.g. ``annotations/instances_train2017.json`` or
            ``annotations/image_info_unlabeled2017.json``).
        data_prefix (dict): ``dict(img_path='train2017/')``: image folder,
            relative to ``data_root``.
        min_size (int): Skip images whose width or height (as recorded in the
            json) is below this many pixels. 0 keeps all. Defaults to 0.
        with_instances (bool): Also keep each image's annotations as
            ``instances`` (``segmentation``, ``bbox``, ``category_id``), for
            ground-truth masks (DetCon's oracle variant). Defaults to False.
        max_skipped_samples (int, optional): Samples whose loading or
            transforms fail are skipped with a warning, up to this many per
            data-loading process; the next stops the run. None lets every
            error through. Defaults to 100.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, ann_file: str, data_prefix: dict = dict(img_path=''),
                 min_size: int = 0, with_instances: bool = False,
                 max_skipped_samples: Optional[int] = 100, **kwargs) -> None:
        self.min_size, self.with_instances = min_size, with_instances
        self._init_skip_budget(max_skipped_samples)
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        _require_file(self.ann_file, type(self).__name__)
        with get_local_path(self.ann_file) as local_path, open(local_path) as f:
            try:
                coco = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'{self.ann_file!r} is not valid JSON ({err}); '
                                 'expected a COCO annotation file') from err
        if missing_coco_key(coco):
            raise ValueError(f'{self.ann_file!r} has no "images" list: not a COCO '
                             'annotation or image-info file')
        backend = get_file_backend(self.data_prefix['img_path'], enable_singleton=True)
        instances = {}
        if self.with_instances:
            if 'annotations' not in coco:
                raise ValueError(f'{self.ann_file!r} has no "annotations": with_instances '
                                 'needs an instances file, not an image-info file')
            for ann in coco['annotations']:
                if ann.get('iscrowd', 0) or 'segmentation' not in ann:
                    continue
                instances.setdefault(ann['image_id'], []).append(
                    dict(segmentation=ann['segmentation'], bbox=ann.get('bbox'),
                         category_id=ann.get('category_id')))
        data_list = []
        for image in coco['images']:
            width, height = image.get('width', 0), image.get('height', 0)
            if self.min_size and min(width, height) < self.min_size:
                continue
            info = dict(img_path=backend.join_path(self.data_prefix['img_path'],
                                                   image['file_name']),
                        img_id=image.get('id'), width=width, height=height)
            if self.with_instances:
                info['instances'] = instances.get(image.get('id'), [])
            data_list.append(info)
        if not data_list:
            raise ValueError(f'{self.ann_file!r} lists no usable image '
                             f'(min_size={self.min_size})')
        return data_list


@DATASETS.register_module()
class ImageListDataset(SkipBadSamplesMixin, BaseDataset):
    """Images named in a list file, one per line, without labels.

    The first field of each line (split on a tab, else on white space) is the
    path relative to ``data_prefix['img_path']``; further fields (captions,
    URLs) are ignored. Blank lines and lines starting with ``#`` are skipped.

    Args:
        ann_file (str): The list file, relative to ``data_root``.
        data_prefix (dict): ``dict(img_path='images/')``.
        max_skipped_samples (int, optional): As :class:`COCOImageDataset`.
            Defaults to 100.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, ann_file: str, data_prefix: dict = dict(img_path=''),
                 max_skipped_samples: Optional[int] = 100, **kwargs):
        self._init_skip_budget(max_skipped_samples)
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        _require_file(self.ann_file, type(self).__name__)
        backend = get_file_backend(self.data_prefix['img_path'], enable_singleton=True)
        data_list = [dict(img_path=backend.join_path(self.data_prefix['img_path'], path))
                     for path in first_fields(list_from_file(self.ann_file))]
        if not data_list:
            raise ValueError(f'list file {self.ann_file!r} names no image')
        return data_list


@DATASETS.register_module()
class ImageFolderDataset(SkipBadSamplesMixin, CustomDataset):
    """mmpretrain's ``CustomDataset`` (an image folder) that skips bad samples.

    Args:
        max_skipped_samples (int, optional): As :class:`COCOImageDataset`.
            Defaults to 100.
        **kwargs: Passed to :class:`mmpretrain.datasets.CustomDataset`
            (``data_root``, ``data_prefix``, ``ann_file``, ``with_label``...).
    """

    def __init__(self, max_skipped_samples: Optional[int] = 100, **kwargs) -> None:
        self._init_skip_budget(max_skipped_samples)
        super().__init__(**kwargs)
