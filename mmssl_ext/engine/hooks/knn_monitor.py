"""Online kNN (and linear) evaluation of the backbone during pretraining."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.dist import barrier, broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmssl_ext.evaluation import dataset_features, knn_accuracy, linear_probe_accuracy
from mmssl_ext.registry import HOOKS


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
    The main process evaluates; the others wait.

    Args:
        train_dataloader (dict): the labelled split the kNN votes from (an
            mmpretrain classification dataset: ``gt_label`` in the samples).
        val_dataloader (dict): the split scored.
        interval (int): iterations between evaluations. Defaults to 1000.
        k (int), temperature (float): of the kNN.
        linear (bool): also a linear probe. Defaults to False.
        at_end (bool): also after the last iteration. Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, train_dataloader: dict, val_dataloader: dict, interval: int = 1000,
                 k: int = 20, temperature: float = 0.07, linear: bool = False,
                 at_end: bool = True) -> None:
        if interval <= 0:
            raise ValueError(f'interval must be positive, got {interval}')
        self.loader_cfgs = dict(train=train_dataloader, val=val_dataloader)
        self.interval, self.k, self.temperature = interval, k, temperature
        self.linear, self.at_end = linear, at_end
        self._loaders: Optional[Dict[str, object]] = None
        self._last_evaluated = -1

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner, runner.iter + 1)  # iterations done

    def after_train(self, runner) -> None:
        if self.at_end and self._last_evaluated != runner.iter:
            self.evaluate(runner, runner.iter)

    def evaluate(self, runner, step: int) -> Dict[str, float]:
        """Run the evaluation now, logged at ``step`` (iterations done)."""
        self._last_evaluated = step
        scores = [None]
        if is_main_process():
            scores[0] = self._scores(runner)
        barrier()
        broadcast_object_list(scores)
        # Straight to the backends, not through the message hub: the training
        # log lines average their scalars over a window, which would smear an
        # occasional evaluation across later lines.
        runner.visualizer.add_scalars(scores[0], step=step)
        runner.logger.info('KNNMonitorHook at iteration %d: %s', step,
                           ', '.join(f'{k} {v:.2f}' for k, v in scores[0].items()))
        return scores[0]

    def _scores(self, runner) -> Dict[str, float]:
        if self._loaders is None:
            self._loaders = {split: runner.build_dataloader(cfg)
                             for split, cfg in self.loader_cfgs.items()}
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        train_feats, train_labels = self._features(model, self._loaders['train'])
        val_feats, val_labels = self._features(model, self._loaders['val'])
        scores = dict(knn_top1=knn_accuracy(train_feats, train_labels, val_feats, val_labels,
                                            self.k, self.temperature))
        if self.linear:
            scores['linear_top1'] = linear_probe_accuracy(train_feats, train_labels,
                                                          val_feats, val_labels)
        return {name.replace('_top1', '/top1'): value for name, value in scores.items()}

    @staticmethod
    def _features(model, loader) -> Tuple[torch.Tensor, torch.Tensor]:
        return dataset_features(model, loader)
