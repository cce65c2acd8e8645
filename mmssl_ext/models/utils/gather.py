"""All-gather across processes with gradients flowing back to every process."""
from typing import Tuple

import torch
import torch.distributed as dist
from mmengine.dist import all_gather, get_rank, get_world_size


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums each row's gradient over processes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rows, ctx.rank = x.shape[0], get_rank()
        return torch.cat(all_gather(x.contiguous()), dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Concatenate ``x`` of every process along dim 0, in rank order.

    Differentiable as JAX's ``all_gather`` (the official DetCon code): the
    backward pass sums, over processes, the gradients that every process's
    loss sends to a row, and gives each process the sums for its own rows.
    With DDP's gradient averaging this is the gradient of the mean loss over
    the gathered batch. (mmpretrain's ``GatherLayer`` keeps only the local
    process's share, dropping the terms of the negatives it lends to others.)

    Args:
        x: (B, ...) with the same B on every process.

    Returns:
        ``(gathered (world_size * B, ...), index of this process's first row)``.
        Without a process group: ``(x, 0)``.
    """
    if get_world_size() == 1:
        return x, 0
    return _GatherWithGrad.apply(x), get_rank() * x.shape[0]


def gather_local_grad(x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Concatenate ``x`` of every process along dim 0, in rank order; only the
    local rows keep their graph (the others arrive without one).

    Returns:
        ``(gathered (world_size * B, ...), index of this process's first row)``.
        Without a process group: ``(x, 0)``.
    """
    if get_world_size() == 1:
        return x, 0
    rows = all_gather(x.detach().contiguous())
    rank = get_rank()
    rows[rank] = x
    return torch.cat(rows, dim=0), rank * x.shape[0]
