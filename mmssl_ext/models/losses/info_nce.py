"""InfoNCE: against a queue of keys (MoCo), and across the gathered batch."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmssl_ext.models.utils.gather import gather_local_grad, gather_with_grad
from mmssl_ext.registry import MODELS


def info_nce_logits(query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor,
                    extra_negatives: Optional[torch.Tensor] = None,
                    temperature: float = 0.2) -> torch.Tensor:
    """Logits of the MoCo-style contrastive task, the positive in column 0.

    Args:
        query: (B, D) L2-normalised queries.
        positive_key: (B, D) L2-normalised keys, row i the positive of query i.
        queue: (K, D) L2-normalised negative keys shared by all queries, a
            key per row (``EmbeddingQueue.embeddings``' layout; mmpretrain
            keeps the transpose).
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
    parts.append(query @ queue.T)
    return torch.cat(parts, dim=1) / temperature


def info_nce_loss(query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor,
                  extra_negatives: Optional[torch.Tensor] = None,
                  temperature: float = 0.2) -> torch.Tensor:
    """Mean InfoNCE: cross entropy of :func:`info_nce_logits` with target 0."""
    logits = info_nce_logits(query, positive_key, queue, extra_negatives, temperature)
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


@MODELS.register_module()
class QueueInfoNCELoss(nn.Module):
    """MoCo's InfoNCE against a queue of keys (:func:`info_nce_loss`), the
    loss of MaskCo and LooC, the temperature held here.

    Args:
        temperature (float): tau. Defaults to 0.2 (MoCo v2's).

    Inputs: ``query`` (B, D) and ``positive_key`` (B, D), L2-normalised;
    ``queue`` (K, D) (K may be 0); ``extra_negatives`` optional (B, M, D).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor,
                extra_negatives: Optional[torch.Tensor] = None) -> torch.Tensor:
        return info_nce_loss(query, positive_key, queue, extra_negatives, self.temperature)

    def extra_repr(self) -> str:
        return f'temperature={self.temperature}'


@MODELS.register_module()
class CrossBatchInfoNCELoss(nn.Module):
    """InfoNCE of queries against the keys of the whole (gathered) batch.

    Query i's positive is key i; every other image's key, on every process,
    is a negative (MoCo v3's loss, and ccMIM's ``L_NCE`` with the visible-set
    CLS as query and the masked-set CLS as key). The loss is multiplied by
    ``2 * temperature``, as MoCo v3 and the official ccMIM code do, so that its
    gradient scale does not depend on the temperature.

    Args:
        temperature (float): tau. Defaults to 0.5 (ccMIM's official value).
        query_negatives (bool): also use the other images' *queries* as
            negatives (the ccMIM paper's Eq. 7, SimCLR-style; the query's own
            similarity is excluded). The official code leaves them out.
            Defaults to False.

    Inputs: ``query`` (B, D) and ``key`` (B, D), any scale (L2-normalised here).
    Keys get no gradient from other processes (they are gathered without one);
    a key built without a graph (stop-gradient) gets none at all.
    """

    def __init__(self, temperature: float = 0.5, query_negatives: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.query_negatives = query_negatives

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        query = F.normalize(query, dim=1)
        key = F.normalize(key, dim=1)
        keys, first = gather_local_grad(key)
        logits = query @ keys.t() / self.temperature  # (B, B_all)
        target = torch.arange(len(query), device=query.device) + first
        if self.query_negatives:
            queries, _ = gather_with_grad(query)
            among_queries = query @ queries.t() / self.temperature
            self_column = F.one_hot(target, len(queries)).bool()
            among_queries = among_queries.masked_fill(self_column, float('-inf'))
            logits = torch.cat([logits, among_queries], dim=1)
        return F.cross_entropy(logits, target) * (2 * self.temperature)
