"""All-gather across processes that keeps the gradient of the local part."""
from typing import Tuple

import torch
from mmengine.dist import all_gather, get_rank, get_world_size


def gather_keep_local_grad(x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Concatenate ``x`` of every process along dim 0, rank order.

    The other processes' parts are constants here (their own process
    back-propagates through them); this process's part is ``x`` itself, so
    gradients flow into it — what a contrastive loss with in-batch negatives
    needs (SimCLR, DetCon_S).

    Args:
        x: (B, ...) with the same B on every process.

    Returns:
        ``(gathered (world_size * B, ...), index of this process's first row)``.
        Without a process group: ``(x, 0)``.
    """
    if get_world_size() == 1:
        return x, 0
    parts = list(all_gather(x.detach()))
    rank = get_rank()
    parts[rank] = x
    return torch.cat(parts, dim=0), rank * x.shape[0]
