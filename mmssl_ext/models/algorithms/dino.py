"""DINO: self-distillation with no labels (Caron et al., ICCV 2021)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.structures import DataSample
from torch import nn

from mmssl_ext.models.losses.dino import teacher_temperature
from mmssl_ext.registry import MODELS


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """DINO: a student matches a momentum teacher's centred, sharpened outputs.

    The student (``backbone`` -> ``neck``, the :class:`DINONeck`) sees every
    multi-crop view; the teacher, a ``CosineEMA`` copy of both (momentum
    0.996 -> 1 along training), sees only the global views. The
    :class:`DINOLoss` holds the center. Two schedules follow the paper:
    the teacher temperature warms up linearly (:func:`teacher_temperature`),
    and the output layer (``neck.last_layer``) gets no gradient during the
    first ``freeze_last_layer`` epochs (or iterations, see ``by_epoch``).

    Args:
        backbone (dict): e.g. ViT-S/16 with ``out_type='cls_token'``, or a
            ResNet (its map is average-pooled by the neck).
        neck (dict): the projection head, ``DINONeck``.
        loss (dict): ``DINOLoss`` with the same ``out_channels`` as the neck.
        num_global_views (int): the first views of ``inputs`` are the global
            ones (the teacher's). Defaults to 2.
        momentum (float): the teacher's initial EMA weight of the student,
            mmengine's ``1 - m`` (0.004 is the paper's m = 0.996).
        end_momentum (float): its final value (0: m = 1). Defaults to 0.
        teacher_temp (float): tau_t after warm-up. Defaults to 0.04.
        warmup_teacher_temp (float): tau_t at the start. Defaults to 0.04.
        teacher_temp_warmup (int): warm-up length. Defaults to 0.
        freeze_last_layer (int): how long the output layer stays frozen.
            Defaults to 1.
        by_epoch (bool): whether ``teacher_temp_warmup`` and
            ``freeze_last_layer`` count epochs (the paper's unit) or
            iterations (for iteration-based schedules). Defaults to True.
        head (dict, optional): unused; kept for mmpretrain's base class.

    Inputs: ``inputs`` = list of views (B, 3, H_v, W_v), normalised, global
    views first (see :class:`~mmssl_ext.datasets.transforms.MultiCrop`).
    Views of one resolution are batched through the network together.

    Freezing zeroes the output layer's gradient (a tensor hook, so it also
    works under DDP); with AdamW or SGD-momentum started at zero, no update
    reaches the layer but weight decay, which only rescales the weight's
    direction ``v`` — a no-op for the weight-normalised layer.
    """

    def __init__(self, backbone: dict, neck: dict, loss: dict, num_global_views: int = 2,
                 momentum: float = 0.004, end_momentum: float = 0.,
                 teacher_temp: float = 0.04, warmup_teacher_temp: float = 0.04,
                 teacher_temp_warmup: int = 0, freeze_last_layer: int = 1,
                 by_epoch: bool = True, head: Optional[dict] = None,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.criterion = MODELS.build(loss)
        self.num_global_views = num_global_views
        self.teacher_temp, self.warmup_teacher_temp = teacher_temp, warmup_teacher_temp
        self.teacher_temp_warmup, self.freeze_last_layer = teacher_temp_warmup, freeze_last_layer
        self.by_epoch = by_epoch
        self.teacher = CosineEMA(nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck)),
                                 momentum=momentum, end_momentum=end_momentum)
        # The official teacher is built without stochastic depth.
        for module in self.teacher.modules():
            if hasattr(module, 'drop_prob'):
                module.drop_prob = 0.
        for param in self.neck.last_layer.parameters():
            param.register_hook(self._cancel_while_frozen)

    def _step(self) -> int:
        """The schedules' clock: the current epoch or iteration (0 outside a Runner)."""
        info = MessageHub.get_current_instance().get_info('epoch' if self.by_epoch else 'iter')
        return int(info or 0)

    def current_teacher_temp(self) -> float:
        return teacher_temperature(self._step(), self.teacher_temp_warmup,
                                   self.warmup_teacher_temp, self.teacher_temp)

    def last_layer_frozen(self) -> bool:
        return self._step() < self.freeze_last_layer

    def _cancel_while_frozen(self, grad: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad) if self.last_layer_frozen() else grad

    @staticmethod
    def _forward_views(backbone: nn.Module, neck: nn.Module,
                       views: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per-view logits (B, K); consecutive views of one size share a pass."""
        outputs, start = [], 0
        while start < len(views):
            end = start + 1
            while end < len(views) and views[end].shape == views[start].shape:
                end += 1
            logits = neck(backbone(torch.cat(list(views[start:end]))))[0]
            outputs.extend(logits.chunk(end - start))
            start = end
        return outputs

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if len(inputs) <= self.num_global_views:
            raise ValueError(f'DINO needs more than {self.num_global_views} views per image '
                             f'(the global ones first), got {len(inputs)}; check the '
                             'MultiCrop transform of the pipeline')
        global_views = inputs[:self.num_global_views]
        with torch.no_grad():
            self.teacher.update_parameters(
                nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck)))
            teacher = self.teacher.module
            teacher_out = self._forward_views(teacher['backbone'], teacher['neck'],
                                              global_views)
        student_out = self._forward_views(self.backbone, self.neck, inputs)
        temp = self.current_teacher_temp()
        loss, stats = self.criterion(student_out, teacher_out, temp)
        return dict(loss=loss, **stats, teacher_temp=torch.tensor(temp, device=loss.device))
