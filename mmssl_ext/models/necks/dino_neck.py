"""DINO's projection head: MLP, L2-normalised bottleneck, weight-normalised output."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmssl_ext.registry import MODELS


class WeightNormLinear(nn.Module):
    """A bias-free linear layer with weight normalisation, ``w = g * v / |v|``.

    The weight's direction ``v`` is the parameter ``weight`` (out, in); its
    per-row norm ``g`` is fixed at 1 (DINO's ``norm_last_layer=True``, which
    the paper finds stabilises training) or the learnable ``scale`` (out, 1)
    initialised at 1. Written out rather than with
    ``torch.nn.utils.weight_norm`` so that the momentum teacher's deep copy,
    the state dict and ``torch.compile`` see two plain parameters.

    Args:
        in_features (int): bottleneck channels.
        out_features (int): output dimension K.
        learnable_norm (bool): learn ``g``. Defaults to False.
    """

    def __init__(self, in_features: int, out_features: int, learnable_norm: bool = False) -> None:
        super().__init__()
        # nn.Linear's initialisation of the direction (the official head's).
        self.weight = nn.Parameter(nn.Linear(in_features, out_features, bias=False).weight.data)
        self.scale = nn.Parameter(torch.ones(out_features, 1)) if learnable_norm else None

    def normalised_weight(self) -> torch.Tensor:
        weight = F.normalize(self.weight, dim=1)
        return weight * self.scale if self.scale is not None else weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalised_weight())


@MODELS.register_module()
class DINONeck(BaseModule):
    """The DINO projection head ``g``: ``in -> hidden -> hidden -> bottleneck``
    MLP (GELU, optional BN), L2 normalisation, weight-normalised ``-> K``.

    Args:
        in_channels (int): backbone channels (384 for ViT-S, 2048 for ResNet-50).
        out_channels (int): K, the output dimension. Defaults to 65536.
        hidden_channels (int): Defaults to 2048.
        bottleneck_channels (int): Defaults to 256.
        num_layers (int): MLP layers (>= 1). Defaults to 3.
        use_bn (bool): BN after the hidden layers (the official code's
            ``use_bn_in_head``, used for ResNet-50). Defaults to False.
        norm_last_layer (bool): fix the output layer's weight norm at 1.
            Defaults to True.

    Inputs: a tuple whose last item is (B, C) (a ViT's class token) or
    (B, C, H, W) (a CNN's map, average-pooled here). Output: ``((B, K), )``,
    unnormalised logits.
    """

    def __init__(self, in_channels: int, out_channels: int = 65536,
                 hidden_channels: int = 2048, bottleneck_channels: int = 256,
                 num_layers: int = 3, use_bn: bool = False, norm_last_layer: bool = True,
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        layers, width = [], in_channels
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(width, hidden_channels))
            if use_bn:
                layers.append(nn.BatchNorm1d(hidden_channels))
            layers.append(nn.GELU())
            width = hidden_channels
        layers.append(nn.Linear(width, bottleneck_channels))
        self.mlp = nn.Sequential(*layers)
        self.last_layer = WeightNormLinear(bottleneck_channels, out_channels,
                                           learnable_norm=not norm_last_layer)

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor]:
        x = inputs[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        x = F.normalize(self.mlp(x), dim=-1)
        return (self.last_layer(x), )
