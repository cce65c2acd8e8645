"""Online kNN (and linear) evaluation of the backbone during pretraining."""
import math
from typing import Dict, Optional, Tuple

import torch
from mmengine.dist import all_gather, all_reduce, broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmssl_ext.evaluation import dataset_features, knn_predictions, linear_probe_accuracy
from mmssl_ext.registry import HOOKS


def gather_shards(local: torch.Tensor, total: int) -> torch.Tensor:
    """The rows of a split sharded ``rank, rank + world, ...`` (mmengine's
    ``DefaultSampler(shuffle=False, round_up=False)``), gathered from every
    process back into the split's order.

    Args:
        local: (n_rank, ...) this process's rows, ``n_rank`` being
            ``len(range(rank, total, world_size))``.
        total: rows of the whole split.

    Returns:
        (total, ...) on every process; ``local`` itself with one process.
    """
    rank, world_size = get_dist_info()
    if world_size == 1:
        return local
    most = math.ceil(total / world_size)
    if len(local) != len(range(rank, total, world_size)):
        raise ValueError(f'rank {rank} holds {len(local)} of {total} rows, not the '
                         f'{len(range(rank, total, world_size))} of its shard')
    padded = local.new_zeros((most, ) + tuple(local.shape[1:]))
    padded[:len(local)] = local
    shards = torch.stack(all_gather(padded))  # (world, most, ...)
    # Row j of rank r is row r + j * world of the split: j-major order. The
    # padding rows (j = most - 1 of the last ranks) land at the end.
    return shards.transpose(0, 1).reshape((most * world_size, ) + tuple(local.shape[1:]))[:total]


def _check_every_rank_has_rows(loaders: Dict[str, object]) -> None:
    """Refuse, on every rank alike (so that none waits for the others in a
    collective), splits too small for each process to hold a row."""
    _, world_size = get_dist_info()
    for split, loader in loaders.items():
        size = len(loader.dataset)
        if size < world_size:
            raise ValueError(
                f'KNNMonitorHook: its {split}_dataloader\'s dataset has {size} samples, fewer '
                f'than the run\'s {world_size} processes; give it at least one sample per '
                'process, or remove the hook')


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Every ``interval`` iterations, classify a labelled split from another
    with the frozen backbone's features, and log the accuracy.

    Features: the algorithm's ``extract_feat`` (unmasked), last output:
    global-average-pooled when it is a feature map (ResNet: C5), the mean of
    the patch tokens when it is a ViT's token sequence (as ccMIM evaluates),
    as is when it is a vector; L2-normalised. The weighted kNN is the one of the demo's probe
    (k = 20, T = 0.07: Wu et al. 2018); with ``linear=True`` a softmax
    regression on the same features is added. The scalars ``knn/top1`` (and
    ``linear/top1``) go to every visualizer backend of the config (local
    ``scalars.json``, TensorBoard, W&B ...) at the iteration, and to the log.
    Every process evaluates its share, so that none waits on another in a
    collective long enough to time out: each extracts the features of its
    shard of both splits (the loaders are built on every rank with the
    run's seed and a ``DefaultSampler(shuffle=False, round_up=False)``,
    whatever sampler their config names: one pass over each split, no image
    twice), the train features are gathered, each process scores its val
    rows in blocks (:func:`knn_predictions`) and the correct counts are summed.
    The linear probe fits on the gathered features on every process (the
    fit is deterministic) and rank 0's figure is broadcast. The figures are
    those of one process on the same weights.

    Args:
        train_dataloader (dict): the labelled split the kNN votes from (an
            mmpretrain classification dataset: ``gt_label`` in the samples).
        val_dataloader (dict): the split scored.
        interval (int): iterations between evaluations. Defaults to 1000.
        k (int), temperature (float): of the kNN.
        linear (bool): also a linear probe. Defaults to False.
        at_end (bool): also after the last iteration. Defaults to True.
        at_start (bool): also before the first iteration (the figure of
            the initial or loaded weights). Defaults to False.
        chunk_size (int): val rows per similarity block of the kNN (peak
            memory ``chunk_size x len(train)`` floats). Defaults to 256.
    """

    priority = 'LOW'

    def __init__(self, train_dataloader: dict, val_dataloader: dict, interval: int = 1000,
                 k: int = 20, temperature: float = 0.07, linear: bool = False,
                 at_end: bool = True, at_start: bool = False, chunk_size: int = 256) -> None:
        if interval <= 0:
            raise ValueError(f'interval must be positive, got {interval}')
        self.loader_cfgs = dict(train=train_dataloader, val=val_dataloader)
        self.interval, self.k, self.temperature = interval, k, temperature
        self.linear, self.at_end, self.at_start = linear, at_end, at_start
        self.chunk_size = chunk_size
        self._loaders: Optional[Dict[str, object]] = None
        self._last_evaluated = -1

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner, runner.iter + 1)  # iterations done

    def after_train(self, runner) -> None:
        if self.at_end and self._last_evaluated != runner.iter:
            self.evaluate(runner, runner.iter)

    def before_train(self, runner) -> None:
        if self.at_start:
            self.evaluate(runner, runner.iter)

    def evaluate(self, runner, step: int) -> Dict[str, float]:
        """Run the evaluation now, logged at ``step`` (iterations done).
        Every process of the run must call it."""
        self._last_evaluated = step
        scores = [self._scores(runner)]
        broadcast_object_list(scores)  # the linear fit's figure of rank 0
        # Straight to the backends, not through the message hub: the training
        # log lines average their scalars over a window, which would smear an
        # occasional evaluation across later lines.
        runner.visualizer.add_scalars(scores[0], step=step)
        runner.logger.info('KNNMonitorHook at iteration %d: %s', step,
                           ', '.join(f'{k} {v:.2f}' for k, v in scores[0].items()))
        return scores[0]

    def _scores(self, runner) -> Dict[str, float]:
        if self._loaders is None:
            shard = dict(type='DefaultSampler', shuffle=False, round_up=False)
            # An explicit seed: without one every rank's DefaultSampler would
            # broadcast rank 0's, a collective inside a per-rank build. No
            # drop_last (a pretraining loader's copy may carry it): it would
            # leave rows out, and shards of the wrong length on some ranks.
            self._loaders = {split: runner.build_dataloader(
                dict(cfg, sampler=shard, drop_last=False), seed=runner.seed)
                for split, cfg in self.loader_cfgs.items()}
            _check_every_rank_has_rows(self._loaders)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        train_feats, train_labels = self._gathered_features(model, self._loaders['train'])
        val_feats, val_labels = self._features(model, self._loaders['val'])
        predictions = knn_predictions(train_feats, train_labels, val_feats, self.k,
                                      self.temperature, self.chunk_size)
        counts = torch.tensor([(predictions == val_labels).sum().item(), len(val_labels)],
                              dtype=torch.float64)
        all_reduce(counts)
        scores = {'knn/top1': (counts[0] / counts[1]).item() * 100}
        if self.linear:
            total = len(self._loaders['val'].dataset)
            scores['linear/top1'] = linear_probe_accuracy(
                train_feats, train_labels, gather_shards(val_feats, total),
                gather_shards(val_labels, total))
        return scores

    def _gathered_features(self, model, loader) -> Tuple[torch.Tensor, torch.Tensor]:
        feats, labels = self._features(model, loader)
        total = len(loader.dataset)
        return gather_shards(feats, total), gather_shards(labels, total)

    @staticmethod
    def _features(model, loader) -> Tuple[torch.Tensor, torch.Tensor]:
        return dataset_features(model, loader)
