"""Token importance and visible/masked divisions for masked image modelling (ccMIM).

Conventions follow mmpretrain's MAE (``MAEViT.random_masking``): patches are
indexed 0..N-1 in raster order; a division returns ``ids_keep`` (B, K) of the
visible patches, ``ids_masked`` (B, N - K), ``ids_restore`` (B, N) (the
inverse permutation, for the decoder) and ``mask`` (B, N) with 1 = masked.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .device_copy import host_to_device

STRATEGIES = ('random', 'blockwise', 'importance', 'importance_sampling', 'gumbel')


def cls_attention_row(attn: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """CLS -> patch attention of one mmpretrain ``MultiheadAttention`` layer.

    Only the CLS query is projected, and only its attention row is formed
    (B x heads x (N + 1) logits), never the (N + 1)^2 matrix that the fused
    attention of the forward pass hides.

    Args:
        attn: the layer's attention (``qkv`` linear, ``num_heads``, ``head_dims``).
        tokens: (B, 1 + N, D) the layer's *normalised* input (after ``ln1``),
            CLS first.

    Returns:
        (B, N) softmax attention of CLS over the patches, mean over heads.
    """
    b, n, d = tokens.shape
    heads, dims = attn.num_heads, attn.head_dims
    weight, bias = attn.qkv.weight, attn.qkv.bias
    q_w, k_w = weight[:heads * dims], weight[heads * dims:2 * heads * dims]
    q_b = bias[:heads * dims] if bias is not None else None
    k_b = bias[heads * dims:2 * heads * dims] if bias is not None else None
    q = F.linear(tokens[:, 0], q_w, q_b).view(b, heads, dims)
    k = F.linear(tokens, k_w, k_b).view(b, n, heads, dims)
    logits = torch.einsum('bhd,bnhd->bhn', q, k) * dims ** -0.5
    return logits.softmax(dim=-1)[:, :, 1:].mean(dim=1)


def blockwise_mask(batch: int, grid: Tuple[int, int], num_masked: int,
                   min_block: int = 16, min_aspect: float = 0.3,
                   generator: Optional[torch.Generator] = None,
                   max_attempts: int = 1000) -> torch.Tensor:
    """BEiT's block-wise masking: rectangles of patches until ``num_masked``.

    Each step draws a block area uniformly in [min_block, still to mask] and a
    log-uniform aspect ratio in [min_aspect, 1 / min_aspect], places it at a
    random position, and keeps it if it adds between 1 and "still to mask"
    patches (BEiT's rule; ccMIM's ablation uses min_block = 16). Unlike
    mmpretrain's ``BEiTMaskGenerator`` (a data transform on numpy's global
    generator, which can loop forever on small grids) this runs on a torch
    generator and gives up after ``max_attempts`` draws; the caller then tops
    the mask up at random (:func:`divide_tokens` does).

    Args:
        grid: (h, w) patches.

    Returns:
        (B, h * w) bool, at most ``num_masked`` True per row (in practice exactly).
    """
    h, w = grid
    log_low, log_high = math.log(min_aspect), -math.log(min_aspect)
    mask = torch.zeros(batch, h, w, dtype=torch.bool)
    count = torch.zeros(batch, dtype=torch.long)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    attempts = 0
    # Every image draws one block per round, all images at once (no Python
    # loop over the batch); an image already complete has nothing left to
    # mask, so its draws are refused. Same distribution as one image at a time.
    while attempts < max_attempts:
        for u_area, u_aspect, u_top, u_left in torch.rand(
                32, 4, batch, generator=generator).unbind(0):
            attempts += 1
            remaining = num_masked - count
            low = remaining.clamp(max=min_block)
            area = low + (remaining - low) * u_area
            aspect = torch.exp(log_low + (log_high - log_low) * u_aspect)
            bh = torch.round(torch.sqrt(area * aspect)).long()
            bw = torch.round(torch.sqrt(area / aspect)).long()
            fits = (remaining > 0) & (bh >= 1) & (bh <= h) & (bw >= 1) & (bw <= w)
            top = (u_top * (h - bh + 1).clamp(min=1)).long().view(-1, 1, 1)
            left = (u_left * (w - bw + 1).clamp(min=1)).long().view(-1, 1, 1)
            block = ((rows >= top) & (rows < top + bh.view(-1, 1, 1))
                     & (cols >= left) & (cols < left + bw.view(-1, 1, 1)))
            new = (block & ~mask).sum(dim=(1, 2))
            accept = fits & (new > 0) & (new <= remaining)
            mask |= block & accept.view(-1, 1, 1)
            count += new * accept
            if attempts >= max_attempts:
                break
        if bool((count >= num_masked).all()):  # a CPU tensor: no device involved
            break
    return mask.flatten(1)


def divide_tokens(num_patches: int, batch: int, mask_ratio: float = 0.75,
                  strategy: str = 'importance_sampling',
                  scores: Optional[torch.Tensor] = None, temperature: float = 1.0,
                  generator: Optional[torch.Generator] = None,
                  device=None, grid: Optional[Tuple[int, int]] = None,
                  min_block: int = 16
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split each image's patches into a visible and a masked set.

    Every strategy sorts the patches by a key, ascending, and keeps the first
    ``round(N * (1 - mask_ratio))`` visible:

    * ``random`` (MAE): key u ~ U[0, 1).
    * ``blockwise`` (BEiT): key = block mask (:func:`blockwise_mask`) + u / 2,
      so the blocks are masked (topped up at random if they fall short).
    * ``importance`` (top-k): key = importance; the most attended patches are masked.
    * ``importance_sampling`` (ccMIM's official rule): key = softmax(s) / softmax(u),
      u ~ U[0, 1) per patch: important patches tend to be masked, with noise.
    * ``gumbel``: key = s / temperature + Gumbel noise (Gumbel-top-k sampling of
      the masked set with probabilities softmax(s / temperature)).

    Args:
        scores: (B, N) importance (needed by all but ``random`` and ``blockwise``).
        grid: (h, w) patch grid of ``blockwise``; defaults to a square.
        min_block: smallest block of ``blockwise``, in patches.

    Returns:
        ``ids_keep`` (B, K), ``ids_masked`` (B, N - K), ``ids_restore`` (B, N),
        ``mask`` (B, N) float, 1 = masked.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f'strategy must be one of {STRATEGIES}, got {strategy!r}')
    if not 0 < mask_ratio < 1:
        raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
    if strategy not in ('random', 'blockwise') and scores is None:
        raise ValueError(f'strategy {strategy!r} needs importance scores')
    device = scores.device if scores is not None else device
    shape = (batch, num_patches)
    num_keep = int(round(num_patches * (1 - mask_ratio)))
    if strategy == 'random':
        key = torch.rand(shape, generator=generator, device=device)
    elif strategy == 'blockwise':
        if grid is None:
            side = math.isqrt(num_patches)
            if side * side != num_patches:
                raise ValueError(f'blockwise needs the patch grid of {num_patches} patches')
            grid = (side, side)
        blocks = blockwise_mask(batch, grid, num_patches - num_keep, min_block,
                                generator=generator)
        noise = torch.rand(shape, generator=generator) / 2
        key = host_to_device(blocks.float() + noise, device)
    elif strategy == 'importance':
        key = scores
    elif strategy == 'importance_sampling':
        noise = torch.rand(shape, generator=generator, device=device)
        key = scores.softmax(dim=-1) / noise.softmax(dim=-1)
    else:
        u = torch.rand(shape, generator=generator, device=device).clamp_(1e-20, 1 - 1e-7)
        key = scores / temperature - torch.log(-torch.log(u))
    ids_shuffle = torch.argsort(key, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(shape, device=ids_shuffle.device)
    mask[:, :num_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :num_keep], ids_shuffle[:, num_keep:], ids_restore, mask
