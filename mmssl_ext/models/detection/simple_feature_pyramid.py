"""ViTDet's simple feature pyramid, for detectors on a plain ViT backbone."""
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Feature maps at strides 4, 8, 16, 32 (and 64) from a ViT's single map.

    Li et al., *Exploring Plain Vision Transformer Backbones for Object
    Detection* (ViTDet): the last stride-16 map is upsampled by transposed
    convolutions (x4: two of them with a norm and GELU between; x2: one),
    kept (x1) or max-pooled (x0.5); each level then gets a 1x1 and a 3x3
    convolution with a norm. ``num_outs=5`` adds a stride-64 level by
    max-pooling the last (for an RPN over 5 levels). mmdet 3.3 keeps its
    version in ``projects/``, which its wheel does not install.

    Args:
        in_channels (int): the ViT's width D.
        out_channels (int): of every level. Defaults to 256.
        scales (Sequence[float]): of the input map, in output order.
            Defaults to (4, 2, 1, 0.5): strides 4-32 from 16 px patches
            ((2, 1, 0.5, 0.25) for 8 px patches).
        num_outs (int): levels returned (extra ones by max-pooling).
        norm_cfg (dict): Defaults to SyncBN.

    Inputs: the backbone's outputs; the last is (B, D, H/16, W/16).
    """

    def __init__(self, in_channels: int, out_channels: int = 256,
                 scales: Sequence[float] = (4, 2, 1, 0.5), num_outs: int = 5,
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        for scale in scales:
            if scale == 4:
                width = in_channels // 4
                layers = [nn.ConvTranspose2d(in_channels, in_channels // 2, 2, 2),
                          build_norm_layer(norm_cfg, in_channels // 2)[1], nn.GELU(),
                          nn.ConvTranspose2d(in_channels // 2, width, 2, 2)]
            elif scale == 2:
                width = in_channels // 2
                layers = [nn.ConvTranspose2d(in_channels, width, 2, 2)]
            elif scale == 1:
                width, layers = in_channels, []
            elif scale in (0.5, 0.25):
                pool = int(1 / scale)
                width, layers = in_channels, [nn.MaxPool2d(pool, pool)]
            else:
                raise ValueError(f'scales must be among 4, 2, 1, 0.5, 0.25; got {scale}')
            layers += [ConvModule(width, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
                       ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                                  act_cfg=None)]
            self.stages.append(nn.Sequential(*layers))

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
        x = inputs[-1]
        outs: List[torch.Tensor] = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(nn.functional.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
