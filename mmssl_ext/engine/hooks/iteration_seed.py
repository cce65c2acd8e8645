"""Randomness that a resumed run reproduces."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmssl_ext.registry import HOOKS


def iteration_seed(run_seed: int, iteration: int, rank: int = 0) -> int:
    """A 32-bit seed that is a function of the run's seed, the iteration and the rank.

    numpy's ``SeedSequence`` mixes the three, so nearby iterations (or ranks)
    get unrelated streams, unlike ``seed + iteration``.
    """
    entropy = [int(run_seed) & 0xFFFFFFFF, int(iteration), int(rank)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed python, numpy and torch from (run seed, iteration) before every iteration.

    What the model draws at iteration ``i`` (MaskCo's and ccMIM's masks,
    DetCon's mask sampling, drop-path, DINO's crops on the device) then
    depends on ``i`` alone, not on how the process got there. A run killed
    and resumed from a checkpoint at iteration ``k`` draws exactly what the
    uninterrupted run drew, without saving every process's generator states
    (mmengine saves none; a checkpoint is written by rank 0 only, which could
    not hold the other ranks' states anyway).

    The data pipeline's randomness is the dataloader workers': mmengine seeds
    each worker from the run seed, and on resume replays the ``k`` batches
    already trained, so the stream of batches is the same too. That needs
    ``num_workers >= 1``: with ``num_workers=0`` the pipeline shares this
    process's generators, and the replay draws from them without the model's
    draws in between.

    The rank enters the seed only with ``randomness.diff_rank_seed=True``,
    mmengine's switch for different streams per process; by default every
    rank draws the same, as mmengine's own seeding does.

    Usage: ``custom_hooks = [dict(type='IterationSeedHook')]`` (in our
    default runtime).
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed = runner.seed
        if seed is None:  # a Runner built without set_randomness: nothing to reproduce
            return
        diff_rank = bool(getattr(runner, '_randomness_cfg', {}).get('diff_rank_seed'))
        value = iteration_seed(seed, runner.iter, get_rank() if diff_rank else 0)
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)  # also seeds every CUDA device
