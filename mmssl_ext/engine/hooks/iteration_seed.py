"""Randomness that a resumed run reproduces, whatever the number of dataloader workers."""
import random
from typing import Callable, Iterator

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmssl_ext.registry import HOOKS

# Which stream of draws a seed is for: the model's at an iteration, or the data
# pipeline's for the batch of that iteration (the same (seed, iteration) must
# not give both the same numbers).
MODEL_STREAM, DATA_STREAM = 0, 1


def iteration_seed(run_seed: int, iteration: int, rank: int = 0, stream: int = MODEL_STREAM) -> int:
    """A 32-bit seed that is a function of the run's seed, the iteration, the rank and the stream.

    numpy's ``SeedSequence`` mixes them, so nearby iterations (or ranks)
    get unrelated streams, unlike ``seed + iteration``. ``stream=0`` (the
    model's draws) gives the seeds of earlier releases.
    """
    entropy = [int(run_seed) & 0xFFFFFFFF, int(iteration), int(rank)]
    if stream != MODEL_STREAM:
        entropy.append(int(stream))
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_everything(value: int) -> None:
    """Seed python's, numpy's and torch's (CPU and every CUDA device) global generators."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


class SeededBatches:
    """An iterator of batches that seeds this process's generators before drawing each one.

    Batch ``n`` (counted from ``first``) is drawn right after
    ``seed_everything(seed_of(n))``. With ``num_workers=0`` the pipeline runs
    in this process, so its draws for batch ``n`` depend on ``n`` alone,
    not on what the model drew before, nor on how many batches mmengine's
    resume replayed without training on them.

    Args:
        batches: the loop's iterator (mmengine's ``_InfiniteDataloaderIterator``).
        seed_of: the seed of batch ``n``.
        first: the index of the next batch.
    """

    def __init__(self, batches: Iterator, seed_of: Callable[[int], int], first: int = 0) -> None:
        self._batches = batches
        self._seed_of = seed_of
        self.next_batch = first

    def __iter__(self) -> 'SeededBatches':
        return self

    def __next__(self):
        seed_everything(self._seed_of(self.next_batch))
        self.next_batch += 1
        return next(self._batches)

    def __getattr__(self, name):  # the wrapped iterator's own attributes (_dataloader, _epoch)
        return getattr(self._batches, name)


class SeededDataLoader:
    """A dataloader whose every ``iter()`` yields :class:`SeededBatches` (epoch-based loops).

    Everything else (``sampler``, ``dataset``, ``batch_size``, ``len``) is the
    wrapped dataloader's.
    """

    def __init__(self, dataloader, seed_of: Callable[[int], int], first_batch: Callable[[], int]):
        self._dataloader = dataloader
        self._seed_of = seed_of
        self._first_batch = first_batch

    def __iter__(self) -> SeededBatches:
        return SeededBatches(iter(self._dataloader), self._seed_of, self._first_batch())

    def __len__(self) -> int:
        return len(self._dataloader)

    def __getattr__(self, name):
        return getattr(self._dataloader, name)


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Make every draw of iteration ``i`` a function of (run seed, ``i``), data and model.

    * **Model.** Before every iteration, python, numpy and torch are seeded
      from (run seed, iteration): what the model draws at iteration ``i``
      (MaskCo's and ccMIM's masks, DetCon's mask sampling, drop-path, DINO's
      crops on the device) depends on ``i`` alone.
    * **Data.** Before the batch of iteration ``i`` is drawn, this process is
      seeded from (run seed, ``i``, rank) on a separate stream. With
      ``num_workers=0`` (debugging) the pipeline runs here, and its
      augmentations for batch ``i`` then depend on ``i`` alone; mmengine's
      resume, which replays the ``k`` batches already trained (drawing from
      this process's generators without the model's draws in between), no
      longer shifts them. With ``num_workers >= 1`` the pipeline runs in the
      workers, which mmengine seeds from the run seed and which the replay
      advances exactly as the uninterrupted run did.

    A run killed and resumed from a checkpoint at iteration ``k`` then draws
    exactly what the uninterrupted run drew, without saving every process's
    generator states (mmengine saves none; a checkpoint is written by rank 0
    only, which could not hold the other ranks' states anyway).

    The rank enters the model's seed only with ``randomness.diff_rank_seed=True``,
    mmengine's switch for different streams per process; by default every
    rank draws the same, as mmengine's own seeding does. The data seed always
    has the rank, as mmengine's seeds of the dataloader workers do: the ranks
    augment their different images independently.

    Usage: ``custom_hooks = [dict(type='IterationSeedHook')]`` (in our
    default runtime).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        # Runs before IterBasedTrainLoop replays the trained batches of a resumed run.
        seed = runner.seed
        if seed is None:
            return
        rank = get_rank()

        def seed_of(batch: int) -> int:
            return iteration_seed(seed, batch, rank, DATA_STREAM)

        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop: one stream, replayed
            if not isinstance(loop.dataloader_iterator, SeededBatches):
                # The replay starts from batch 0 whatever the resumed iteration.
                loop.dataloader_iterator = SeededBatches(loop.dataloader_iterator, seed_of)
        elif hasattr(loop, 'dataloader') and not isinstance(loop.dataloader, SeededDataLoader):
            # EpochBasedTrainLoop: a new iterator per epoch, resumed at an epoch boundary.
            loop.dataloader = SeededDataLoader(loop.dataloader, seed_of, lambda: runner.iter)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed = runner.seed
        if seed is None:  # a Runner built without set_randomness: nothing to reproduce
            return
        diff_rank = bool(getattr(runner, '_randomness_cfg', {}).get('diff_rank_seed'))
        seed_everything(iteration_seed(seed, runner.iter, get_rank() if diff_rank else 0))
