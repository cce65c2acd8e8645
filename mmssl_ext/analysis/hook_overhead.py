"""What the reliability hooks cost per training step, measured on a config's real step.

``tools/analysis_tools/benchmark_reliability.py`` parses arguments, calls
:func:`measure_hook_overhead` and prints its figures.
"""
import copy
import time
from types import SimpleNamespace
from typing import Callable, Dict, List

import torch
from mmengine.logging import MessageHub

from .benchmark import build_for_training, cpu_norms, load_config, one_batch, spread


def _timed(step: Callable[[], None], device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_hook_overhead(config: str, batch: int = 8, iters: int = 20, warmup: int = 2,
                          data_root: str = 'data/synthetic_scenes',
                          device: str = 'cpu') -> Dict:
    """Time the config's ``model.train_step`` on one batch of ``batch`` synthetic
    scenes, plain and wrapped in the per-iteration work of the default
    runtime's hooks (``IterationSeedHook`` seeding three generators,
    ``NonFiniteGuardHook`` copying the buffers before the step and checking
    the gradients in the optimizer's step-pre-hook), ``iters`` steps of each
    in ABBA order after ``warmup`` guarded ones.

    Returns ``plain`` and ``hooks`` (spreads of seconds per step), ``ratio``
    (median hooks / median plain) and ``buffer_bytes`` (what the guard copies
    each step). Needs our modules registered and the scope set.
    """
    from mmssl_ext.engine.hooks import IterationSeedHook, NonFiniteGuardHook
    cfg = load_config(config)
    if device == 'cpu':
        cpu_norms(cfg.model)
    data = one_batch(cfg, data_root, batch)
    # what the Runner's message hub holds (CosineEMA teachers read max_iters)
    MessageHub.get_current_instance().update_info('max_iters', 1_000_000)
    model, optim_wrapper = build_for_training(cfg, device)
    runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper, seed=0, iter=0,
                             _randomness_cfg={}, work_dir='.',
                             message_hub=MessageHub.get_current_instance())
    seed_hook, guard = IterationSeedHook(), NonFiniteGuardHook()
    guard.before_train(runner)

    def plain() -> None:
        model.train_step(copy.copy(data), optim_wrapper)

    def guarded() -> None:
        seed_hook.before_train_iter(runner, 0)
        guard.before_train_iter(runner, 0)
        outputs = model.train_step(copy.copy(data), optim_wrapper)
        guard.after_train_iter(runner, 0, outputs=outputs)

    for _ in range(warmup):
        guarded()
    times: Dict[str, List[float]] = {'plain': [], 'hooks': []}
    for index in range(iters):
        for name in (('plain', 'hooks') if index % 2 == 0 else ('hooks', 'plain')):
            if name == 'plain':
                # the guard's step-pre-hook stays on the optimizer: it is
                # removed around the plain step and added back after it
                guard.after_train(runner)
                times[name].append(_timed(plain, device))
                guard.before_train(runner)
            else:
                times[name].append(_timed(guarded, device))
        runner.iter += 1
    plain_s, hooks_s = spread(times['plain']), spread(times['hooks'])
    return dict(plain=plain_s, hooks=hooks_s, ratio=hooks_s['median'] / plain_s['median'],
                buffer_bytes=sum(b.numel() * b.element_size() for b in model.buffers()))
