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
import copy
import time
from types import SimpleNamespace
from typing import List, Optional

import torch
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmssl_ext.engine.hooks import IterationSeedHook, NonFiniteGuardHook
from mmssl_ext.utils import register_all_modules
from mmssl_ext.utils.benchmark import build_for_training, cpu_norms, load_config, one_batch, spread
from mmssl_ext.utils.tool_errors import run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=20, help='timed steps of each variant')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    register_all_modules(False)
    init_default_scope('mmssl_ext')
    cfg = load_config(args.config)
    if args.device == 'cpu':
        cpu_norms(cfg.model)
    batch = one_batch(cfg, args.data_root, args.batch)
    # what the Runner's message hub holds (CosineEMA teachers read max_iters)
    MessageHub.get_current_instance().update_info('max_iters', 1_000_000)
    model, optim_wrapper = build_for_training(cfg, args.device)
    runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper, seed=0, iter=0,
                             _randomness_cfg={}, work_dir='.',
                             message_hub=MessageHub.get_current_instance())
    seed_hook, guard = IterationSeedHook(), NonFiniteGuardHook()
    guard.before_train(runner)

    def plain() -> None:
        model.train_step(copy.copy(batch), optim_wrapper)

    def guarded() -> None:
        seed_hook.before_train_iter(runner, 0)
        guard.before_train_iter(runner, 0)
        outputs = model.train_step(copy.copy(batch), optim_wrapper)
        guard.after_train_iter(runner, 0, outputs=outputs)

    def timed(step) -> float:
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    # The guard's pre-hook stays on the optimizer; for the plain steps it is
    # switched off by removing and re-adding it around them.
    for _ in range(args.warmup):
        guarded()
    times = {'plain': [], 'hooks': []}
    for index in range(args.iters):
        order = ('plain', 'hooks') if index % 2 == 0 else ('hooks', 'plain')
        for name in order:
            if name == 'plain':
                guard.after_train(runner)  # remove the step-pre-hook
                times[name].append(timed(plain))
                guard.before_train(runner)
            else:
                times[name].append(timed(guarded))
        runner.iter += 1
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    plain_s, hooks_s = spread(times['plain']), spread(times['hooks'])
    ratio = hooks_s['median'] / plain_s['median']
    print(f'{args.config} (batch {args.batch}, {args.device}, {args.iters} steps each)')
    print(f'{"variant":<8} {"median s":>10} {"q1":>8} {"q3":>8}')
    for name, row in (('plain', plain_s), ('hooks', hooks_s)):
        print(f'{name:<8} {row["median"]:>10.4f} {row["q1"]:>8.4f} {row["q3"]:>8.4f}')
    print(f'hooks / plain: {ratio:.3f}; buffers copied per step: {buffers / 2**20:.1f} MiB')
    return dict(plain=plain_s, hooks=hooks_s, ratio=ratio, buffer_bytes=buffers)


if __name__ == '__main__':
    run_tool(main)
