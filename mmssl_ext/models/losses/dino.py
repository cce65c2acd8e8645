"""The DINO loss (Caron et al., ICCV 2021): self-distillation with centering."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from torch import nn

from mmssl_ext.registry import MODELS


def teacher_temperature(step: int, warmup_steps: int, warmup_temp: float,
                        temp: float) -> float:
    """DINO's teacher temperature: linear from ``warmup_temp`` (step 0) to
    ``temp`` (step ``warmup_steps - 1``), then constant — the official
    ``np.linspace(warmup_temp, temp, warmup_steps)`` indexed by step. Steps
    are epochs in the paper (0.04 -> 0.07 over 30 epochs)."""
    if step >= warmup_steps:
        return temp
    if warmup_steps == 1:
        return warmup_temp
    return warmup_temp + (temp - warmup_temp) * step / (warmup_steps - 1)


@MODELS.register_module()
class DINOLoss(nn.Module):
    """Cross entropy of the student's views against the teacher's global views.

    For every teacher (global) view ``i`` and student view ``j != i``:
    ``-sum_k P_t^i_k log P_s^j_k`` with ``P_t = softmax((g_t - c) / tau_t)`` and
    ``P_s = softmax(g_s / tau_s)``, averaged over the batch and over the pairs.
    After each call the center moves towards the batch mean of the teacher
    outputs: ``c <- m c + (1 - m) mean(g_t)`` (over every process).

    Args:
        out_channels (int): K, the head's output dimension.
        student_temp (float): tau_s. Defaults to 0.1.
        center_momentum (float): m. Defaults to 0.9.

    The center is a buffer: saved in checkpoints and restored on resume.
    """

    def __init__(self, out_channels: int, student_temp: float = 0.1,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer('center', torch.zeros(1, out_channels))

    def teacher_probabilities(self, teacher_output: torch.Tensor,
                              teacher_temp: float) -> torch.Tensor:
        """Centred and sharpened teacher targets, (N, K), no gradient."""
        return F.softmax((teacher_output.detach() - self.center) / teacher_temp, dim=-1)

    def forward(self, student_views: Sequence[torch.Tensor], teacher_views: Sequence[torch.Tensor],
                teacher_temp: float) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """
        Args:
            student_views: V tensors (B, K), the student's logits of every
                view, the G global views first and in the teacher's order.
            teacher_views: G tensors (B, K), the teacher's logits of the
                global views.
            teacher_temp: tau_t at this step.

        Returns:
            ``(loss, stats)``: the scalar loss, and two detached diagnostics
            of the teacher targets, in nats: ``teacher_entropy``, their mean
            entropy (0 when they collapse to one-hot, log K when they
            collapse to uniform), and ``teacher_marginal_entropy``, the
            entropy of their mean over the batch. The difference of the two
            is the information the targets carry about the image; it is 0 in
            both collapses.
        """
        if len(student_views) < 2 or len(teacher_views) > len(student_views):
            raise ValueError(f'need at least two student views and no more teacher views '
                             f'than student views; got {len(student_views)} and '
                             f'{len(teacher_views)}')
        teacher_output = torch.cat(list(teacher_views))
        targets = self.teacher_probabilities(teacher_output, teacher_temp)
        targets_per_view = targets.chunk(len(teacher_views))
        log_probs = [F.log_softmax(s / self.student_temp, dim=-1) for s in student_views]
        total, terms = 0., 0
        for i, target in enumerate(targets_per_view):
            for j, log_prob in enumerate(log_probs):
                if i == j:
                    continue
                total = total + (-target * log_prob).sum(dim=-1).mean()
                terms += 1
        with torch.no_grad():
            stats = dict(teacher_entropy=_entropy(targets).mean(),
                         teacher_marginal_entropy=_entropy(targets.mean(dim=0)))
        self.update_center(teacher_output)
        return total / terms, stats

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """EMA of the teacher outputs' mean over this step's whole batch."""
        batch_sum = teacher_output.detach().float().sum(dim=0, keepdim=True)
        if get_world_size() > 1:
            all_reduce(batch_sum)  # every process holds the same number of rows
        count = teacher_output.shape[0] * get_world_size()
        self.center.mul_(self.center_momentum).add_(
            (batch_sum / count).to(self.center.dtype), alpha=1 - self.center_momentum)


def _entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of distributions over the last dimension."""
    return -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(dim=-1)
