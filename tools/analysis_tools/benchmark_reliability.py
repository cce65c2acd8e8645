"""What the reliability hooks cost per training step, measured on a config's real step.

The config's model and optimizer wrapper (as ``benchmark_train.py`` builds
them) take ``--iters`` steps on one batch of the synthetic scenes, alternating
(ABBA) a plain ``model.train_step`` with the same step wrapped in the
per-iteration work of the default runtime's hooks: ``IterationSeedHook``
(seeding three generators) and ``NonFiniteGuardHook`` (a copy of the model's
buffers before the step, the gradient check in the optimizer's step-pre-hook).
Prints the median step of each and their ratio, and the bytes of buffers the
guard copies.

    python tools/analysis_tools/benchmark_reliability.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py --batch 8
"""
import argparse
import json
from typing import List, Optional

import torch
from mmengine.registry import init_default_scope

from mmssl_ext import register_all_modules
from mmssl_ext.analysis.hook_overhead import measure_hook_overhead
from mmssl_ext.utils.tool_errors import run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=20, help='timed steps of each variant')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--json', help='write the figures here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    register_all_modules(False)
    init_default_scope('mmssl_ext')
    figures = measure_hook_overhead(args.config, batch=args.batch, iters=args.iters,
                                    warmup=args.warmup, data_root=args.data_root,
                                    device=args.device)
    print(f'{args.config} (batch {args.batch}, {args.device}, {args.iters} steps each)')
    print(f'{"variant":<8} {"median s":>10} {"q1":>8} {"q3":>8}')
    for name in ('plain', 'hooks'):
        row = figures[name]
        print(f'{name:<8} {row["median"]:>10.4f} {row["q1"]:>8.4f} {row["q3"]:>8.4f}')
    print(f'hooks / plain: {figures["ratio"]:.3f}; buffers copied per step: '
          f'{figures["buffer_bytes"] / 2**20:.1f} MiB')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)
    return figures


if __name__ == '__main__':
    run_tool(main)
