"""Data pipeline throughput: images/s of one worker, per transform, and with N workers.

For each config: its train dataset and pipeline, pointed at the embedded
synthetic scenes (``--own-data`` keeps the config's dataset, e.g. real COCO).
One process runs the pipeline over ``--num`` images and times each top-level
transform (``LoadImageFromFile``, ``MaskCoViews``, ``LoadFHMasks``,
``MultiView``, ``PackInputs`` ...); that rate is what one dataloader worker
delivers. ``--workers`` then measures the config's real DataLoader (batches,
collate, pinned memory as configured) with each number of workers.
``--step-ms`` (the model's step time, from benchmark_train.py) gives the
workers needed to keep the model fed.

    python tools/analysis_tools/benchmark_pipeline.py \
        configs/mocov2/mocov2_r18_1xb32-600i_synthetic.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py \
        configs/detcon/detcon-s_r18_1xb32-600i_synthetic.py \
        configs/ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py --workers 1 2
    # real COCO, as trained (FH masks precomputed), against a 250 ms GPU step:
    python tools/analysis_tools/benchmark_pipeline.py \
        configs/detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py --own-data --step-ms 250
"""
import argparse
import copy
import json
import math
import os.path as osp
import time
from collections import defaultdict
from typing import Dict, List, Optional

from mmengine.registry import init_default_scope

from mmssl_ext.utils import register_all_modules
from mmssl_ext.utils.benchmark import load_config, spread, use_synthetic_scenes
from mmssl_ext.utils.tool_errors import run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='config files (or package::path)')
    parser.add_argument('--num', type=int, default=64, help='images through the pipeline')
    parser.add_argument('--warmup', type=int, default=4, help='untimed images first')
    parser.add_argument('--workers', type=int, nargs='*', default=[],
                        help='also measure the DataLoader with these numbers of workers')
    parser.add_argument('--batches', type=int, default=6,
                        help='timed batches per DataLoader measurement')
    parser.add_argument('--batch', type=int, help='batch size (default: the config\'s)')
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--own-data', action='store_true',
                        help='read the config\'s own dataset instead of the synthetic scenes')
    parser.add_argument('--epoch-start', type=int, metavar='WORKERS',
                        help='also time the first batch of a new epoch with this many workers, '
                        'with and without persistent_workers')
    parser.add_argument('--step-ms', type=float,
                        help='model step time; prints the workers that keep up with it')
    parser.add_argument('--json', help='write the figures here')
    return parser.parse_args(argv)


def dataset_config(path: str, args: argparse.Namespace):
    cfg = load_config(path)
    loader = cfg.train_dataloader
    if args.batch:
        loader.batch_size = args.batch
    if not args.own_data:
        use_synthetic_scenes(loader.dataset, args.data_root)
    return cfg


def per_transform(dataset, num: int, warmup: int) -> Dict[str, List[float]]:
    """Seconds per image of each top-level transform, run in this process."""
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


def loader_throughput(cfg, workers: int, batches: int) -> float:
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


def epoch_start_seconds(cfg, workers: int, persistent: bool, epochs: int = 4) -> float:
    """Median wait for the first batch of epochs 2.. (worker start-up, unless
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


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    from mmssl_ext.registry import DATASETS
    rows = []
    for path in args.configs:
        cfg = dataset_config(path, args)
        dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
        times = per_transform(dataset, args.num, args.warmup)
        total = spread(times.pop('total'))
        row = dict(config=osp.basename(path.split('::')[-1]), path=path,
                   images_per_s_per_worker=1 / total['median'], ms_per_image=total,
                   transforms={name: spread(t)['median'] * 1e3 for name, t in times.items()},
                   batch=cfg.train_dataloader.batch_size, loader_images_per_s={})
        for workers in args.workers:
            row['loader_images_per_s'][workers] = loader_throughput(cfg, workers, args.batches)
        infinite = 'Infinite' in str(cfg.train_dataloader.get('sampler', {}).get('type'))
        if args.epoch_start and infinite:
            print(f'  {row["config"]}: InfiniteSampler, a single epoch: no epoch start to time')
        elif args.epoch_start:
            row['epoch_start_s'] = {
                str(p): epoch_start_seconds(cfg, args.epoch_start, p) for p in (False, True)}
        if args.step_ms:
            need = row['batch'] / (args.step_ms / 1e3)  # images/s the model consumes
            row['workers_needed'] = math.ceil(need / row['images_per_s_per_worker'])
        rows.append(row)
        print(f'  measured {row["config"]}', flush=True)
    report(rows, args)
    return rows


def report(rows: List[dict], args: argparse.Namespace) -> None:
    print(f'\none process, {args.num} images after {args.warmup} warm-up'
          + ('' if args.own_data else f', synthetic scenes ({args.data_root})'))
    for row in rows:
        ms = row['ms_per_image']
        print(f'{row["config"]}: {row["images_per_s_per_worker"]:.1f} images/s per worker '
              f'({ms["median"] * 1e3:.1f} ms/image, q1-q3 {ms["q1"] * 1e3:.1f}-'
              f'{ms["q3"] * 1e3:.1f})')
        for name, t in row['transforms'].items():
            print(f'    {name:<28}{t:>8.2f} ms')
        for workers, rate in row['loader_images_per_s'].items():
            print(f'    DataLoader, {workers} workers, batch {row["batch"]}: {rate:.1f} images/s')
        if 'epoch_start_s' in row:
            wait = row['epoch_start_s']
            print(f'    first batch of a new epoch, {args.epoch_start} workers: '
                  f'{wait["False"] * 1e3:.0f} ms, persistent workers {wait["True"] * 1e3:.0f} ms')
        if 'workers_needed' in row:
            print(f'    workers to feed a {args.step_ms:g} ms step at batch {row["batch"]}: '
                  f'{row["workers_needed"]}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
        print(f'figures written to {args.json}')


if __name__ == '__main__':
    run_tool(main)
