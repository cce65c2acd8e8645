"""Data pipeline throughput of a config: images/s of one worker, per top-level
transform, and of the config's real DataLoader with N workers.

``tools/analysis_tools/benchmark_pipeline.py`` parses arguments, calls
:func:`measure_pipeline` per config and prints its rows.
"""
import copy
import dataclasses
import math
import os.path as osp
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from .benchmark import load_config, spread, use_synthetic_scenes


@dataclasses.dataclass
class PipelineBenchmarkSettings:
    """What a pipeline measurement runs: ``num`` images timed after ``warmup``
    in this process; the DataLoader with each of ``workers`` workers over
    ``batches`` batches; ``epoch_start`` workers for the first batch of a new
    epoch; ``step_ms`` a model step (ms) to keep fed. ``batch`` (images) and
    ``data_root`` (synthetic scenes, unless ``own_data``) override the config."""
    num: int = 64
    warmup: int = 4
    workers: Sequence[int] = ()
    batches: int = 6
    batch: Optional[int] = None
    data_root: str = 'data/synthetic_scenes'
    own_data: bool = False
    epoch_start: Optional[int] = None
    step_ms: Optional[float] = None


def dataset_config(path: str, settings: PipelineBenchmarkSettings) -> Config:
    """The config, its train loader's batch and dataset as ``settings`` say."""
    cfg = load_config(path)
    loader = cfg.train_dataloader
    if settings.batch:
        loader.batch_size = settings.batch
    if not settings.own_data:
        use_synthetic_scenes(loader.dataset, settings.data_root)
    return cfg


def per_transform(dataset, num: int, warmup: int) -> Dict[str, List[float]]:
    """Seconds per image of each top-level transform of ``dataset``'s pipeline,
    run in this process, and their ``'total'``; the first ``warmup`` images
    are not timed."""
    times: Dict[str, List[float]] = defaultdict(list)
    for i in range(warmup + num):
        results = dataset.get_data_info(i % len(dataset))
        total = time.perf_counter()
        for transform in dataset.pipeline.transforms:
            start = time.perf_counter()
            results = transform(results)
            if i >= warmup:
                times[type(transform).__name__].append(time.perf_counter() - start)
            if results is None:
                raise RuntimeError(f'{type(transform).__name__} dropped image {i}')
        if i >= warmup:
            times['total'].append(time.perf_counter() - total)
    return times


def loader_throughput(cfg: Config, workers: int, batches: int) -> float:
    """Images/s of the config's DataLoader with ``workers`` workers, after its start."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.num_workers = workers
    loader_cfg.persistent_workers = workers > 0
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first batches are not throughput
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    rate = batches * loader_cfg.batch_size / (time.perf_counter() - start)
    del iterator, loader
    return rate


def epoch_start_seconds(cfg: Config, workers: int, persistent: bool, epochs: int = 4) -> float:
    """Median wait (s) for the first batch of epochs 2.. (worker start-up, unless
    the workers persist), over epochs of 2 batches run to their end."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=workers, persistent_workers=persistent)
    loader_cfg.dataset['indices'] = 2 * loader_cfg.batch_size
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    waits = []
    for epoch in range(epochs):
        start = time.perf_counter()
        batches = iter(loader)
        next(batches)
        if epoch:  # epoch 1 starts the workers in any case
            waits.append(time.perf_counter() - start)
        for _ in batches:
            pass
    del batches, loader
    return spread(waits)['median']


def measure_pipeline(path: str, settings: PipelineBenchmarkSettings) -> dict:
    """One row: ``images_per_s_per_worker``, ``ms_per_image`` (spread, s),
    ``transforms`` (median ms per top-level transform), ``loader_images_per_s``
    per number of workers, ``epoch_start_s`` (median s, without and with
    persistent workers; absent for an ``InfiniteSampler``, which has one
    epoch, and then ``single_epoch`` is True) and ``workers_needed`` for
    ``settings.step_ms``. Needs our modules registered and the scope set."""
    from mmssl_ext.registry import DATASETS
    cfg = dataset_config(path, settings)
    dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    times = per_transform(dataset, settings.num, settings.warmup)
    total = spread(times.pop('total'))
    row = dict(config=osp.basename(path.split('::')[-1]), path=path,
               images_per_s_per_worker=1 / total['median'], ms_per_image=total,
               transforms={name: spread(t)['median'] * 1e3 for name, t in times.items()},
               batch=cfg.train_dataloader.batch_size, loader_images_per_s={})
    for workers in settings.workers:
        row['loader_images_per_s'][workers] = loader_throughput(cfg, workers, settings.batches)
    row['single_epoch'] = 'Infinite' in str(cfg.train_dataloader.get('sampler', {}).get('type'))
    if settings.epoch_start and not row['single_epoch']:
        row['epoch_start_s'] = {str(persistent): epoch_start_seconds(
            cfg, settings.epoch_start, persistent) for persistent in (False, True)}
    if settings.step_ms:
        need = row['batch'] / (settings.step_ms / 1e3)  # images/s the model consumes
        row['workers_needed'] = math.ceil(need / row['images_per_s_per_worker'])
    return row
