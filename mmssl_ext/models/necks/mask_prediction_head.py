"""MaskCo's mask prediction head (MPH): residual blocks on C5, stride 1."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.models.backbones.resnet import Bottleneck
from torch import nn

from mmssl_ext.registry import MODELS

# mmpretrain's ResNet default init_cfg (mmpretrain 1.2.0 backbones/resnet.py).
RESNET_INIT = [dict(type='Kaiming', layer=['Conv2d']),
               dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]


@MODELS.register_module()
class MaskPredictionNeck(BaseModule):
    """The MPH of MaskCo: ``num_blocks`` ResNet bottlenecks, like conv5.

    It sits between the backbone and RoI align and bridges the gap between
    features of a masked region (query view) and of the same region unmasked
    (key view), so that the backbone itself need not learn to fill in blanks.
    The paper uses 3 blocks (1x1 -> 3x3 -> 1x1, as ResNet-50's conv5) and
    ablates 0 to 4; 0 is the identity.

    Args:
        in_channels (int): channels of the backbone's last stage (2048 for
            ResNet-50, 512 for ResNet-18).
        num_blocks (int): number of bottleneck blocks. Defaults to 3.
        expansion (int): bottleneck expansion; the inner width is
            ``in_channels // expansion``. Defaults to 4 (conv5 of ResNet-50).
        norm_cfg (dict): normalisation of the blocks. Defaults to BN.
        with_cp (bool): gradient checkpointing of the blocks.
        init_cfg (dict | list[dict], optional): Defaults to the ResNet
            backbone's (mmpretrain's ``ResNet``: Kaiming normal, fan-out, for
            the convolutions; BN scales 1, shifts 0), since the MPH extends
            conv5 and is initialised as conv5 is.

    Shapes:
        input: a tuple whose last element is (B, C, H/32, W/32).
        output: a 1-tuple of (B, C, H/32, W/32) (stride and size unchanged).
    """

    def __init__(self, in_channels: int = 2048, num_blocks: int = 3, expansion: int = 4,
                 norm_cfg: dict = dict(type='BN'), with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = RESNET_INIT) -> None:
        super().__init__(init_cfg=copy.deepcopy(init_cfg))
        if not 0 <= num_blocks:
            raise ValueError(f'num_blocks must be >= 0, got {num_blocks}')
        if in_channels % expansion:
            raise ValueError(f'in_channels ({in_channels}) must be divisible by expansion '
                             f'({expansion})')
        self.blocks = nn.Sequential(*[
            Bottleneck(in_channels, in_channels, expansion=expansion, stride=1,
                       norm_cfg=norm_cfg, with_cp=with_cp) for _ in range(num_blocks)
        ])

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        return (self.blocks(inputs[-1]), )
