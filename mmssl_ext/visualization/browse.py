"""What the browse_* tools share: the config, the dataset and views, the PNG."""
import argparse
import os
import os.path as osp
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.dataset import BaseDataset, Compose
from mmengine.registry import init_default_scope

from mmssl_ext.utils.tool_errors import InputError, load_config


def add_browse_args(parser: argparse.ArgumentParser, method: str, output: str,
                    panel_size: int) -> None:
    """The arguments every browse_* tool takes."""
    from mmengine.config import DictAction
    parser.add_argument('config', help=f'a {method} config (its train pipeline is drawn)')
    parser.add_argument('--output', default=output, help='PNG to write')
    parser.add_argument('--num', type=int, default=4, help='samples (rows)')
    parser.add_argument('--start', type=int, default=0, help='first dataset index')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random views')
    parser.add_argument('--panel-size', type=int, default=panel_size,
                        help='display height of each panel, pixels (views are upscaled)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')


def load_browse_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config with ``--cfg-options`` merged. The tools register our modules
    first (``mmssl_ext.register_all_modules``, the package's top layer)."""
    cfg = load_config(path, needs=('train_dataloader',))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def dataset_and_views(cfg: Config, step_type: str,
                      tool: str) -> Tuple[BaseDataset, Compose]:
    """The train dataset (no pipeline) and its pipeline up to ``step_type``.

    The pipeline stops after the views transform: packing would drop the
    geometry (crops, boxes, ids) the tools draw.
    """
    from mmssl_ext.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmssl_ext'))
    dataset_cfg = cfg.train_dataloader.dataset
    pipeline = list(dataset_cfg.pipeline)
    steps = [i for i, step in enumerate(pipeline) if step.get('type') == step_type]
    if not steps:
        raise InputError(cfg.filename or 'the config', f'its train pipeline has no {step_type} '
                         f'step', f'{tool} draws configs that use it only: give one of those '
                         f'(configs/*/ with {step_type} in train_dataloader.dataset.pipeline)')
    dataset_cfg.pipeline = []
    return DATASETS.build(dataset_cfg), Compose(pipeline[:steps[0] + 1])


def write_png(canvas: np.ndarray, path: str) -> None:
    """Write an RGB canvas."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    mmcv.imwrite(mmcv.rgb2bgr(canvas), path)
