"""ViT for ccMIM: mmpretrain's MAE ViT plus token importance and set encoding."""
from typing import Tuple

import torch
from mmpretrain.models.selfsup.mae import MAEViT
from torch.utils.checkpoint import checkpoint

from mmssl_ext.models.utils import cls_attention_row, divide_tokens
from mmssl_ext.models.utils.token_masking import STRATEGIES
from mmssl_ext.registry import MODELS


def _full_attention(attn, h: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, N) softmax attention of mmpretrain's ``MultiheadAttention``
    ``attn`` on (B, N, D) normed tokens ``h``: the whole matrix."""
    b, n, _ = h.shape
    qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dims).permute(2, 0, 3, 1, 4)
    return (qkv[0] @ qkv[1].transpose(-2, -1) * attn.head_dims ** -0.5).softmax(-1)


@MODELS.register_module()
class ImportanceMaskingViT(MAEViT):
    """MAE's ViT whose visible/masked division follows token importance.

    ``importance`` runs the current encoder over all tokens without a graph and
    sums, over all layers, the CLS -> patch attention (softmax, mean over
    heads), computed from the CLS query alone (:func:`cls_attention_row`).
    ``encode_set`` encodes any subset of patches with the CLS token, so the
    visible and the masked set go through the same encoder.

    Args:
        strategy (str): dividing strategy of :func:`divide_tokens`
            (``random`` is MAE). Defaults to ``'importance_sampling'``.
        temperature (float): of the ``gumbel`` strategy. Defaults to 1.0.
        with_cp (bool): gradient checkpointing of the layers in
            :meth:`encode_set` when a graph is built: their activations are
            recomputed in the backward instead of kept (mmpretrain's ViT has
            no such option). Defaults to False.
        full_attention_importance (bool): compute the importance as the
            official code's blocks do: each layer's whole (N+1) x (N+1)
            attention matrix, every layer run. The same scores at more cost;
            for ``benchmark_ccmim.py``'s comparison. Defaults to False.
        **kwargs: :class:`mmpretrain.models.selfsup.mae.MAEViT`'s (``arch``,
            ``img_size``, ``patch_size``, ``mask_ratio`` ...).
    """

    def __init__(self, strategy: str = 'importance_sampling', temperature: float = 1.0,
                 with_cp: bool = False, full_attention_importance: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.strategy, self.temperature = strategy, temperature
        self.with_cp = with_cp
        self.full_attention_importance = full_attention_importance
        self._check_division()

    def _check_division(self) -> None:
        """At build time, what :func:`divide_tokens` would refuse at the first step."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f'model.backbone.strategy={self.strategy!r} is not one of '
                             f'{STRATEGIES}')
        n = self.patch_resolution[0] * self.patch_resolution[1]
        num_keep = int(round(n * (1 - self.mask_ratio)))
        if not 0 < self.mask_ratio < 1 or not 0 < num_keep < n:
            raise ValueError(
                f'model.backbone.mask_ratio={self.mask_ratio} leaves {num_keep} of the {n} '
                'patches visible: both the visible and the masked set need at least one '
                f'patch. Set a mask_ratio in ({1 / n:.3f}, {1 - 1 / n:.3f}) (0.75 in the '
                'paper).')

    def patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, D) patch embeddings with their positions."""
        return self.patch_embed(images)[0] + self.pos_embed[:, 1:, :]

    def _with_cls(self, tokens: torch.Tensor) -> torch.Tensor:
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1)

    @torch.no_grad()
    def importance(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N) CLS attention to each patch, summed over layers."""
        x = self._with_cls(self.patch_tokens(images))
        # fp32 even under AMP: the division sorts these sums
        scores = x.new_zeros(x.shape[0], x.shape[1] - 1, dtype=torch.float32)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if self.full_attention_importance:
                scores += _full_attention(layer.attn, layer.ln1(x))[:, :, 0, 1:].mean(1).float()
                x = layer(x)
                continue
            scores += cls_attention_row(layer.attn, layer.ln1(x)).float()
            if i < last:  # the last layer's output is not needed
                x = layer(x)
        return scores

    def divide(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The division of each image's patches (see :func:`divide_tokens`)."""
        b = images.shape[0]
        n = self.patch_resolution[0] * self.patch_resolution[1]
        # Random and block-wise divisions do not read the importance: no pass for it.
        scores = None if self.strategy in ('random', 'blockwise') else self.importance(images)
        return divide_tokens(n, b, self.mask_ratio, self.strategy, scores, self.temperature,
                             device=images.device)

    def encode_set(self, tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Encode the patches ``ids`` (B, K) of ``tokens`` (B, N, D, from
        :meth:`patch_tokens`) with the CLS token.

        Returns:
            (B, 1 + K, D) after the final norm; row 0 is the CLS token.
        """
        subset = torch.gather(tokens, 1, ids[..., None].expand(-1, -1, tokens.shape[-1]))
        x = self._with_cls(subset)
        recompute = self.with_cp and torch.is_grad_enabled() and x.requires_grad
        for layer in self.layers:
            x = checkpoint(layer, x, use_reentrant=False) if recompute else layer(x)
        return self.norm1(x)
