"""A FIFO queue of L2-normalised embeddings, shared by every process.

MoCo-style methods keep negatives in it; NNCLR keeps its support set in it and
looks up nearest neighbours. Each process holds an identical copy: the batch is
gathered from every process before it is enqueued.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .gather import gather_local_grad


class EmbeddingQueue(nn.Module):
    """``length`` embeddings of ``dim`` channels, oldest overwritten first.

    The queue starts as random unit vectors (as MoCo and NNCLR do). Its
    contents and write pointer are buffers, so they are saved in checkpoints
    and restored on resume.

    Args:
        length (int): number of embeddings kept. Must be a multiple of the
            global batch that is enqueued each step.
        dim (int): embedding channels.

    Attributes:
        embeddings: (length, dim) L2-normalised rows.
        ptr: (1,) long, the row the next batch is written to.
    """

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        if length <= 0 or dim <= 0:
            raise ValueError(f'queue length and dim must be positive, got {length} and {dim}')
        self.length, self.dim = length, dim
        self.register_buffer('embeddings', F.normalize(torch.randn(length, dim), dim=1))
        self.register_buffer('ptr', torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, batch: torch.Tensor) -> None:
        """Write this step's (B, dim) embeddings of every process, in rank order.

        Raises:
            ValueError: when the gathered batch does not divide the length
                (a partial write would leave stale rows at the wrap-around).
        """
        batch, _ = gather_local_grad(batch.detach())
        size = batch.shape[0]
        if self.length % size:
            raise ValueError(f'queue length ({self.length}) must be a multiple of the global '
                             f'batch size ({size}); change model.queue_len')
        # The rows and the pointer stay on the device: reading the pointer on
        # the host (int(self.ptr)) would wait for the GPU every step.
        rows = (self.ptr + torch.arange(size, device=self.ptr.device)) % self.length
        self.embeddings[rows] = batch.to(self.embeddings.dtype)
        self.ptr.add_(size).remainder_(self.length)

    @torch.no_grad()
    def nearest_neighbours(self, query: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Hard nearest neighbour of each query among the queued embeddings.

        With unit vectors the L2 nearest neighbour is the one of highest cosine
        similarity; the search is one (B, length) matrix product, in fp32 even
        under autocast: among tens of thousands of queued embeddings many
        similarities lie within half precision's spacing (2**-8 near 1 in
        bf16), and the rounded ties would go to the lowest index, not to the
        nearest. It costs B x length x dim MACs, little next to the backbone.

        Args:
            query: (B, dim), any scale (normalised here).

        Returns:
            ``(neighbours (B, dim) unit rows of the queue, their indices (B,))``,
            without gradient (NNCLR's positive is a stop-gradient target).
        """
        with torch.autocast(query.device.type, enabled=False):
            similarity = F.normalize(query.detach().float(), dim=1) @ self.embeddings.float().T
        index = similarity.argmax(dim=1)
        return self.embeddings[index].to(query.dtype), index
