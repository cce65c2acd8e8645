"""DetCon's contrastive detection loss (the official ``byol_nce_detcon`` semantics)."""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmssl_ext.models.utils.gather import gather_with_grad
from mmssl_ext.registry import MODELS

# Subtracted from excluded logits; finite (as in the official code), so that a
# row whose every entry is excluded cannot produce NaN.
_EXCLUDED = 1e9


def _anchor_loss_sum(pred: torch.Tensor, ids: torch.Tensor, other_targets: torch.Tensor,
                     other_ids: torch.Tensor, same_view_targets: torch.Tensor,
                     first_image: int, temperature: float) -> torch.Tensor:
    """Summed loss of the predictions of one view (a block of its images).

    Args:
        pred: (B, R, D) unit predictions of this view, local images.
        ids: (B, R) their mask ids.
        other_targets: (B_all, R, D) unit targets of the other view, all processes.
        other_ids: (B, R) mask ids of the other view, the images of ``pred``.
        same_view_targets: (B_all, R, D) unit targets of this view, all processes.
        first_image: index in the gathered batch of the first image of ``pred``.

    Returns:
        The 0-d sum over the B x R anchors of their weighted losses.
    """
    b, r, _ = pred.shape
    b_all = other_targets.shape[0]
    # The masks, the exclusion and the softmax are fp32 whatever the latents'
    # dtype: in fp16 the exclusion (1e9) overflows to inf, and inf * 0 is NaN.
    f32 = torch.float32
    # (B, 1, B_all, 1): target image is the anchor's own image.
    same_image = F.one_hot(torch.arange(b, device=pred.device) + first_image, b_all)
    same_image = same_image.to(f32)[:, None, :, None]
    # (B, R, 1, R): anchor id equals target id, within one image.
    same_id_other = (ids[:, :, None] == other_ids[:, None, :]).to(f32)[:, :, None, :]
    same_id_self = (ids[:, :, None] == ids[:, None, :]).to(f32)[:, :, None, :]

    # The dot products keep the latents' dtype (fp16 matmuls under AMP).
    logits_other = torch.einsum('brd,ksd->brks', pred, other_targets).float() / temperature
    logits_self = torch.einsum('brd,ksd->brks', pred, same_view_targets).float() / temperature
    # Positives: same image, other view, same id. The same view's latent of the
    # same id (the anchor's own target) is neither positive nor negative.
    labels = same_image * same_id_other
    logits_self = logits_self - _EXCLUDED * same_image * same_id_self

    logits = torch.cat([logits_other, logits_self], dim=2).reshape(b, r, -1)
    labels = torch.cat([labels, torch.zeros_like(logits_self)], dim=2).reshape(b, r, -1)
    num_positives = labels.sum(dim=2, keepdim=True)
    labels = labels / num_positives.clamp(min=1.0)
    # An id drawn k times counts once in all (each copy weighs 1/k); an id
    # absent from the other view has no positive and weighs 0.
    repeats = same_id_self.sum(dim=(2, 3))
    weights = (num_positives[..., 0] > 0).to(f32) / repeats
    per_anchor = -(labels * F.log_softmax(logits, dim=2)).sum(dim=2)
    return (weights * per_anchor).sum()


def _one_direction(pred: torch.Tensor, ids: torch.Tensor, other_targets: torch.Tensor,
                   other_ids: torch.Tensor, same_view_targets: torch.Tensor,
                   first_image: int, temperature: float,
                   block_images: Optional[int] = None) -> torch.Tensor:
    """Mean loss of the predictions of one view (arguments of
    :func:`_anchor_loss_sum`), ``block_images`` anchor images at a time.

    A block's logits are (block, R, 2 B_all R): at 16 x 256 images with 16
    masks, 8 MiB per anchor image and tensor, 2 GiB for a process's 256
    images, several such tensors being saved for the backward. Blocks run
    under activation checkpointing: only a block's inputs are kept, and its
    logits are rebuilt during the backward, one block at a time, so the peak
    is that of one block. The values and gradients are those of the whole
    batch at once (up to the order of the float sums).
    """
    b = pred.shape[0]
    if block_images is None or block_images >= b:
        total = _anchor_loss_sum(pred, ids, other_targets, other_ids, same_view_targets,
                                 first_image, temperature)
        return total / (b * pred.shape[1])
    sums = []
    for start in range(0, b, block_images):
        rows = slice(start, start + block_images)
        args = (pred[rows], ids[rows], other_targets, other_ids[rows], same_view_targets,
                first_image + start, temperature)
        if torch.is_grad_enabled():
            sums.append(checkpoint(_anchor_loss_sum, *args, use_reentrant=False))
        else:
            sums.append(_anchor_loss_sum(*args))
    return torch.stack(sums).sum() / (b * pred.shape[1])


@MODELS.register_module()
class DetConLoss(nn.Module):
    """Contrastive detection loss of DetCon (Hénaff et al., ICCV 2021).

    For each prediction of view 1 (mask id m of image i), the positives are the
    targets of view 2 of image i with id m (several when m was drawn more than
    once; the label mass is split among them); the negatives are every other
    target of both views in the batch gathered across processes, the other
    masks of image i included. The targets of view 1 of image i with id m are
    left out. Each anchor weighs 1/(times its id was drawn in its view), and 0
    when its id is absent from the other view; the loss is the mean over
    anchors, summed over the two directions (view 1 -> 2 and 2 -> 1).

    Latents are L2-normalised here and their dot products divided by
    ``temperature`` (DetCon's latents of norm 1/sqrt(tau)).

    Args:
        temperature (float): tau. Defaults to 0.1.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        negative_group_size (int, optional): contrast each group of this many
            consecutive images of a process only with itself: the paper's
            Table 5 "negatives only within a worker" (32 images a worker at
            4096 on 128 workers), whatever the processes' batch (a process
            with fewer images takes them as one group). None (the
            default) contrasts with the batch gathered across processes.
            (Not the official ``local_negatives`` flag, which counts the same
            image's other masks as negatives, as this loss always does.)
        block_images (int, optional): compute the loss over blocks of this
            many anchor images of a process, each recomputed in the backward
            (activation checkpointing): the same values and gradients with
            the peak memory of one block, for one more forward pass of the
            loss (not of the network). None computes the whole batch at
            once. Defaults to 32 (256 MiB of fp32 logits per block and
            tensor at a 4096-image global batch with 16 masks per view).
    """

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0,
                 negative_group_size: Optional[int] = None,
                 block_images: Optional[int] = 32) -> None:
        super().__init__()
        if negative_group_size is not None and negative_group_size < 1:
            raise ValueError(f'negative_group_size must be >= 1, got {negative_group_size}')
        self.temperature, self.loss_weight = temperature, loss_weight
        self.negative_group_size = negative_group_size
        if block_images is not None and block_images < 1:
            raise ValueError(f'block_images must be >= 1 or None, got {block_images}')
        self.block_images = block_images

    def forward(self, pred1: torch.Tensor, pred2: torch.Tensor, target1: torch.Tensor,
                target2: torch.Tensor, ids1: torch.Tensor, ids2: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pred1, pred2: (B, R, D) online predictions of view 1 and view 2.
            target1, target2: (B, R, D) targets of view 1 and view 2 (for
                DetCon_B the momentum network's, detached; for DetCon_S the
                same latents as the predictions).
            ids1, ids2: (B, R) integer mask ids of view 1 and view 2, shared by
                predictions and targets of a view.

        Returns:
            The scalar loss.
        """
        if pred1.shape != target1.shape or pred1.shape[:2] != ids1.shape:
            raise ValueError(f'shapes do not match: pred {tuple(pred1.shape)}, target '
                             f'{tuple(target1.shape)}, ids {tuple(ids1.shape)}')
        pred1, pred2 = F.normalize(pred1, dim=-1), F.normalize(pred2, dim=-1)
        target1, target2 = F.normalize(target1, dim=-1), F.normalize(target2, dim=-1)
        group = self.negative_group_size
        if group is None:
            target1, first = gather_with_grad(target1)
            target2, _ = gather_with_grad(target2)
            return self.loss_weight * self._both_directions(
                pred1, pred2, target1, target2, ids1, ids2, first)
        group = min(group, len(pred1))  # fewer images than a group: they are one group
        if len(pred1) % group:
            raise ValueError(f'negative_group_size={group} must divide the batch of each '
                             f'process, got {len(pred1)} images')
        # Equal groups: the mean over anchors is the mean of the groups' means.
        chunks = zip(*(t.split(group) for t in (pred1, pred2, target1, target2, ids1, ids2)))
        losses = [self._both_directions(*chunk, 0) for chunk in chunks]
        return self.loss_weight * torch.stack(losses).mean()

    def _both_directions(self, pred1, pred2, target1, target2, ids1, ids2, first: int):
        """View 1 -> 2 plus view 2 -> 1; targets (B_all, R, D), images of
        ``pred*`` starting at ``first`` among them."""
        block, tau = self.block_images, self.temperature
        return (_one_direction(pred1, ids1, target2, ids2, target1, first, tau, block)
                + _one_direction(pred2, ids2, target1, ids1, target2, first, tau, block))
