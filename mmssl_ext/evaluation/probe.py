"""Frozen-feature probes on ground-truth object crops (kNN and linear).

The probe behind ``make demo``: crop every annotated object of a COCO-format
split, embed the crops with a frozen backbone (global average pool of its last
stage), then classify the val crops from the train crops with a weighted kNN
and with a linear classifier. Object crops, not whole scenes, because the
question is whether pretraining on scenes gave features that tell objects
apart.
"""
import os.path as osp
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mmssl_ext.utils.image_listing import read_coco


def load_object_crops(ann_file: str, img_dir: str, crop_size: int = 64,
                      context: float = 0.1, min_side: int = 8
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crop every annotated object of a COCO file, resized to a square.

    Args:
        ann_file: COCO json with ``images``, ``annotations`` (``bbox`` xywh in
            image pixels, ``category_id``).
        img_dir: folder of the images named by ``file_name``.
        crop_size: side of the returned crops, pixels.
        context: margin added on each side, as a fraction of the box side.
        min_side: objects whose box is smaller than this (pixels) are skipped.

    Returns:
        crops: (N, 3, crop_size, crop_size) uint8 RGB.
        labels: (N,) int64 category ids.
    """
    coco = read_coco(ann_file, ('images', 'annotations'),
                     'the object crops come from a COCO instances file (images and annotations)')
    by_image: Dict[int, list] = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    crops, labels = [], []
    for image_info in coco['images']:
        anns = by_image.get(image_info['id'], [])
        if not anns:
            continue
        path = osp.join(img_dir, image_info['file_name'])
        try:
            image = Image.open(path).convert('RGB')
        except (OSError, ValueError) as err:
            raise RuntimeError(f'cannot read image {path!r} for the probe: {err}') from err
        for ann in anns:
            x, y, w, h = ann['bbox']
            if min(w, h) < min_side:
                continue
            mx, my = w * context, h * context
            box = (int(max(x - mx, 0)), int(max(y - my, 0)),
                   int(min(x + w + mx, image.width)), int(min(y + h + my, image.height)))
            crop = image.crop(box).resize((crop_size, crop_size), Image.BILINEAR)
            crops.append(torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1))
            labels.append(ann['category_id'])
    if not crops:
        raise ValueError(f'{ann_file!r} has no object of at least {min_side} px to probe')
    return torch.stack(crops), torch.tensor(labels, dtype=torch.long)


def _normalised_batches(crops: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                        batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """(B, 3, H, W) float batches of uint8 ``crops``, normalised, on ``device``."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    for start in range(0, len(crops), batch_size):
        yield ((crops[start:start + batch_size].float() - mean_t) / std_t).to(device)


@torch.no_grad()
def reestimate_bn_statistics(backbone: nn.Module, crops: torch.Tensor, mean: Sequence[float],
                             std: Sequence[float], batch_size: int = 256) -> int:
    """Replace every BatchNorm's running statistics with those of ``crops``.

    Why the probe needs it: a randomly initialised network's running
    statistics are placeholders (mean 0, variance 1) that no forward pass
    produced, so in eval mode its BatchNorm layers are identities and it
    computes a different function from any network that has seen data: a
    training run at learning rate 0, which changes nothing but these
    statistics, already moves the demo's probe by 6 to 18 points.
    Pretrained backbones carry statistics of augmented training views, not
    of the probe's crops. Re-estimating them on the probe's own train crops
    puts every backbone on the same footing (pycls' and mmpretrain's
    "precise BN"); weights are not touched.

    Args:
        backbone: any module; its ``_BatchNorm`` layers are re-estimated.
        crops: (N, 3, H, W) uint8 RGB, the probe's *train* crops (never the
            val crops: they must stay unseen).
        mean, std: per-channel normalisation in 0..255 units (RGB order).
        batch_size: crops per forward pass; the statistics are the average
            of the per-batch statistics (cumulative average), as in
            torch's ``momentum=None``.

    Returns:
        The number of BatchNorm layers re-estimated (0: nothing to do).

    Raises:
        ValueError: ``crops`` is empty (the backbone is left untouched).
    """
    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    if len(crops) == 0:
        # Resetting without data would leave the placeholders this replaces.
        raise ValueError('reestimate_bn_statistics needs at least one crop, got none')
    was_training = backbone.training
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches
    device = next(backbone.parameters()).device
    backbone.train()
    try:
        for batch in _normalised_batches(crops, mean, std, batch_size, device):
            backbone(batch)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        backbone.train(was_training)
    return len(norms)


@torch.no_grad()
def frozen_stage_outputs(backbone: nn.Module, images: torch.Tensor, mean: Sequence[float],
                         std: Sequence[float], batch_size: int,
                         per_batch: Callable[[torch.Tensor], torch.Tensor]
                         ) -> List[torch.Tensor]:
    """Every stage a frozen backbone returns (mmpretrain's tuple of maps),
    each batch's output mapped by ``per_batch`` (a pooling) on the CPU, the
    batches concatenated. The backbone runs in eval mode (its BatchNorm
    statistics are used, not updated) and is put back as it was.

    Args:
        images: (N, 3, H, W) uint8 RGB, normalised with ``mean`` and ``std``
            (0..255 units) batch by batch.
    """
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    per_stage: List[List[torch.Tensor]] = []
    for batch in _normalised_batches(images, mean, std, batch_size, device):
        outs = backbone(batch)
        outs = outs if isinstance(outs, (tuple, list)) else (outs, )
        if not per_stage:
            per_stage = [[] for _ in outs]
        for store, out in zip(per_stage, outs):
            store.append(per_batch(out).cpu())
    backbone.train(was_training)
    return [torch.cat(store) for store in per_stage]


@torch.no_grad()
def extract_features(backbone: nn.Module, crops: torch.Tensor, mean: Sequence[float],
                     std: Sequence[float], batch_size: int = 128) -> List[torch.Tensor]:
    """Global-average-pooled features of every stage a frozen backbone returns.

    Args:
        backbone: returns a tuple of feature maps (mmpretrain convention),
            each (B, C_i, h_i, w_i); e.g. a ResNet with ``out_indices=(2, 3)``
            gives conv4 (stride 16) and conv5 (stride 32).
        crops: (N, 3, H, W) uint8 RGB.
        mean, std: per-channel normalisation in 0..255 units (RGB order).

    Returns:
        One (N, C_i) float32 tensor per returned stage, L2-normalised.
    """
    pooled = frozen_stage_outputs(backbone, crops, mean, std, batch_size,
                                  lambda out: F.adaptive_avg_pool2d(out, 1).flatten(1))
    return [F.normalize(stage, dim=1) for stage in pooled]


def knn_predictions(train_feats: torch.Tensor, train_labels: torch.Tensor,
                    test_feats: torch.Tensor, k: int = 20, temperature: float = 0.07,
                    chunk_size: int = 256) -> torch.Tensor:
    """Weighted kNN labels (Wu et al. 2018, as used by DINO/MoCo evals).

    Each test feature votes with its ``k`` most cosine-similar train features,
    each vote weighted by ``exp(similarity / temperature)``. The similarity
    matrix is built ``chunk_size`` test rows at a time: whole, a 50k-image
    val split against 128k train features would be 25 GB.

    Args:
        train_feats, test_feats: (N, C) and (M, C), L2-normalised.
        train_labels: (N,) int64.
        chunk_size: test rows per similarity block (peak memory
            ``chunk_size x N`` floats); the labels do not depend on it.

    Returns:
        (M,) int64 predicted labels.
    """
    k = min(k, len(train_feats))
    num_classes = int(train_labels.max()) + 1  # a label never voted for cannot win
    predictions = []
    for rows in test_feats.split(chunk_size):
        top_sim, top_idx = (rows @ train_feats.T).topk(k, dim=1)  # (m, k)
        votes = torch.zeros(len(rows), num_classes, dtype=top_sim.dtype,
                            device=top_sim.device)
        votes.scatter_add_(1, train_labels[top_idx], (top_sim / temperature).exp())
        predictions.append(votes.argmax(1))
    if not predictions:
        return torch.zeros(0, dtype=torch.long, device=test_feats.device)
    return torch.cat(predictions)


def knn_accuracy(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor, k: int = 20,
                 temperature: float = 0.07, chunk_size: int = 256) -> float:
    """Weighted kNN top-1 accuracy in percent (:func:`knn_predictions`).

    Args:
        train_feats, test_feats: (N, C) and (M, C), L2-normalised.
        train_labels, test_labels: (N,), (M,) int64.
    """
    predictions = knn_predictions(train_feats, train_labels, test_feats, k, temperature,
                                  chunk_size)
    return (predictions == test_labels).float().mean().item() * 100


class LinearClassifier:
    """A softmax-regression classifier fitted on frozen features (:meth:`fit`).

    Features are standardised with the train statistics. The classifier
    minimises the mean cross-entropy plus ``weight_decay / 2 * ||W||^2``, a
    strictly convex objective, with full-batch L-BFGS from zero weights, so
    the result is its unique optimum and not a point on an optimiser's
    trajectory: a fixed number of Adam epochs left the accuracy several
    points apart for features that differ only slightly (the demo's
    BatchNorm re-estimation on 2048 or on all train crops). Deterministic.
    Serves the crop probe (:func:`linear_probe_accuracy`) and the dense probe
    (:mod:`mmssl_ext.evaluation.dense_probe`, one feature per cell).
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor):
        self.mean, self.std, self.weight, self.bias = mean, std, weight, bias

    @classmethod
    def fit(cls, feats: torch.Tensor, labels: torch.Tensor, num_classes: int,
            weight_decay: float = 1e-4, max_iter: int = 1000) -> 'LinearClassifier':
        """Args:
            feats: (N, C) train features.
            labels: (N,) int64 in ``0..num_classes - 1``.
            weight_decay: L2 penalty on the weights (not the bias); 1e-4 is
                close to scikit-learn's default (C = 1) for a few thousand
                samples.
            max_iter: L-BFGS iterations at most.
        """
        mean, std = feats.mean(0), feats.std(0) + 1e-6
        x = (feats - mean) / std
        weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, requires_grad=True)
        bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, history_size=20,
                                      tolerance_grad=1e-7, tolerance_change=1e-10,
                                      line_search_fn='strong_wolfe')

        def objective() -> torch.Tensor:
            optimizer.zero_grad()
            loss = (F.cross_entropy(x @ weight + bias, labels)
                    + 0.5 * weight_decay * weight.pow(2).sum())
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(objective)
        return cls(mean, std, weight.detach(), bias.detach())

    @torch.no_grad()
    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(M, C) features -> (M, num_classes) logits."""
        return ((feats - self.mean) / self.std) @ self.weight + self.bias


def linear_probe_accuracy(train_feats: torch.Tensor, train_labels: torch.Tensor,
                          test_feats: torch.Tensor, test_labels: torch.Tensor,
                          weight_decay: float = 1e-4, max_iter: int = 1000) -> float:
    """Top-1 accuracy in percent of a :class:`LinearClassifier` fitted on the
    train features.

    Args:
        train_feats, test_feats: (N, C) and (M, C) features.
        train_labels, test_labels: (N,), (M,) int64.
        weight_decay, max_iter: of :meth:`LinearClassifier.fit`.
    """
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    classifier = LinearClassifier.fit(train_feats, train_labels, num_classes, weight_decay,
                                      max_iter)
    pred = classifier.logits(test_feats).argmax(1)
    return (pred == test_labels).float().mean().item() * 100


@torch.no_grad()
def dataset_features(model: nn.Module, loader) -> Tuple[torch.Tensor, torch.Tensor]:
    """Frozen features and labels of a labelled split, through a model's own
    data preprocessor and ``extract_feat`` (unmasked, for MAE-style models).

    Args:
        model: an mmpretrain-style model (``data_preprocessor``, ``extract_feat``).
        loader: yields collated batches whose data samples carry ``gt_label``
            (mmpretrain classification datasets).

    Returns:
        (N, C) L2-normalised features: the last output, global-average-pooled
        when a feature map (ResNet C5), the mean of the patch tokens when a ViT
        token sequence (B, 1 + N, C), as is when a vector; and (N,) labels.
    """
    was_training = model.training
    model.eval()
    feats, labels = [], []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        out = model.extract_feat(data['inputs'])
        out = out[-1] if isinstance(out, (tuple, list)) else out
        if out.dim() == 4:
            out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        elif out.dim() == 3:  # CLS first
            out = out[:, 1:].mean(dim=1)
        feats.append(F.normalize(out.float().flatten(1), dim=1).cpu())
        labels.append(torch.cat([ds.gt_label for ds in data['data_samples']]).cpu())
    model.train(was_training)
    return torch.cat(feats), torch.cat(labels).long()
