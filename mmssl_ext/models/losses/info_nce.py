"""InfoNCE against a queue of keys, with optional per-query extra negatives."""
from typing import Optional

import torch
import torch.nn.functional as F


def info_nce_logits(query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor,
                    extra_negatives: Optional[torch.Tensor] = None,
                    temperature: float = 0.2) -> torch.Tensor:
    """Logits of the MoCo-style contrastive task, the positive in column 0.

    Args:
        query: (B, D) L2-normalised queries.
        positive_key: (B, D) L2-normalised keys, row i the positive of query i.
        queue: (D, K) L2-normalised negative keys shared by all queries
            (mmpretrain's queue layout).
        extra_negatives: optional (B, M, D) negatives of each query alone
            (MaskCo(+in): the other boxes of the same key view).
        temperature: tau; logits are similarities divided by it.

    Returns:
        (B, 1 + M + K) logits: [positive, extra negatives, queue].
    """
    pos = (query * positive_key).sum(dim=1, keepdim=True)
    parts = [pos]
    if extra_negatives is not None:
        parts.append(torch.einsum('bd,bmd->bm', query, extra_negatives))
    parts.append(query @ queue)
    return torch.cat(parts, dim=1) / temperature


def info_nce_loss(query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor,
                  extra_negatives: Optional[torch.Tensor] = None,
                  temperature: float = 0.2) -> torch.Tensor:
    """Mean InfoNCE: cross entropy of :func:`info_nce_logits` with target 0."""
    logits = info_nce_logits(query, positive_key, queue, extra_negatives, temperature)
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)
