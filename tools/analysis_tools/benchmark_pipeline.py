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
import json
from typing import List, Optional

from mmengine.registry import init_default_scope

from mmssl_ext import register_all_modules
from mmssl_ext.analysis.pipeline import PipelineBenchmarkSettings, measure_pipeline
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


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    settings = PipelineBenchmarkSettings(
        num=args.num, warmup=args.warmup, workers=args.workers, batches=args.batches,
        batch=args.batch, data_root=args.data_root, own_data=args.own_data,
        epoch_start=args.epoch_start, step_ms=args.step_ms)
    rows = []
    for path in args.configs:
        rows.append(measure_pipeline(path, settings))
        if args.epoch_start and rows[-1]['single_epoch']:
            print(f'  {rows[-1]["config"]}: InfiniteSampler, a single epoch: no epoch start '
                  'to time')
        print(f'  measured {rows[-1]["config"]}', flush=True)
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
