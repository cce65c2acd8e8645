"""DINO: self-distillation with no labels (Caron et al., ICCV 2021)."""
import logging
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import MessageHub, print_log
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from mmssl_ext.models.losses.dino import teacher_temperature
from mmssl_ext.models.utils import CosineMomentumEMA
from mmssl_ext.registry import MODELS


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """DINO: a student matches a momentum teacher's centred, sharpened outputs.

    The student (``backbone`` -> ``neck``, the :class:`DINONeck`) sees every
    multi-crop view; the teacher, a ``CosineMomentumEMA`` copy of both (momentum
    0.996 -> 1 along training), sees only the global views. The
    :class:`DINOLoss` holds the center. Two schedules follow the paper:
    the teacher temperature warms up linearly (:func:`teacher_temperature`),
    and the output layer (``neck.last_layer``) gets no gradient during the
    first ``freeze_last_layer`` epochs (or iterations, see ``by_epoch``).

    Gradients, as the official training loop treats them between backward and
    the step (:meth:`before_optimizer_step`, run by ``ModelGradientHook``,
    which every config inherits from ``reliability_hooks.py``): each
    parameter's gradient norm is clipped at ``clip_grad_per_param``
    (``utils.clip_gradients``: per parameter, not the global norm), then,
    while frozen, the output layer's gradients are set to ``None``
    (``cancel_gradients_last_layer``), so the optimizer skips the layer
    entirely: AdamW neither counts steps nor decays moments for it, and its
    first update after the freeze is the same as the official one.

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
        clip_grad_per_param (float, optional): the per-parameter gradient
            norm bound; None turns clipping off. Defaults to 3.0 (official).
        by_epoch (bool): whether ``teacher_temp_warmup`` and
            ``freeze_last_layer`` count epochs (the paper's unit) or
            iterations (for iteration-based schedules). Defaults to True.

    Inputs: ``inputs`` = list of views (B, 3, H_v, W_v), normalised, global
    views first (see :class:`~mmssl_ext.datasets.transforms.MultiCrop`).
    Views of one resolution are batched through the network together.
    """

    # Read by mmssl_ext.utils.config_check: a short last batch on one rank breaks it.
    equal_batches_reason = ("all-reduces the teacher's batch sum across processes for its "
                            'center, counting the same rows on every process')

    def nondeterministic_cuda_ops(self) -> List[str]:
        """For ``DeterministicCUDAHook``: what has no deterministic CUDA backward."""
        if hasattr(self.backbone, 'pos_embed'):  # a ViT: resized for the local crops
            return ['upsample_bicubic2d backward (the ViT position embedding interpolated '
                    'to the local crops\' patch grid)']
        return []

    def __init__(self, backbone: dict, neck: dict, loss: dict, num_global_views: int = 2,
                 momentum: float = 0.004, end_momentum: float = 0.,
                 teacher_temp: float = 0.04, warmup_teacher_temp: float = 0.04,
                 teacher_temp_warmup: int = 0, freeze_last_layer: int = 1,
                 by_epoch: bool = True, clip_grad_per_param: Optional[float] = 3.0,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.criterion = MODELS.build(loss)
        self.num_global_views = num_global_views
        self.teacher_temp, self.warmup_teacher_temp = teacher_temp, warmup_teacher_temp
        self.teacher_temp_warmup, self.freeze_last_layer = teacher_temp_warmup, freeze_last_layer
        self.by_epoch = by_epoch
        self.teacher = CosineMomentumEMA.of_submodules(
            self, ('backbone', 'neck'), momentum=momentum, end_momentum=end_momentum)
        # The official teacher is built without stochastic depth.
        for module in self.teacher.modules():
            if hasattr(module, 'drop_prob'):
                module.drop_prob = 0.
        self.clip_grad_per_param = clip_grad_per_param
        # Set by ModelGradientHook; without it the gradient policy never runs.
        self.gradient_hook_attached = False
        self._warned_unhooked = False

    def _step(self) -> int:
        """The schedules' clock: the current epoch or iteration (0 outside a Runner)."""
        info = MessageHub.get_current_instance().get_info('epoch' if self.by_epoch else 'iter')
        return int(info or 0)

    def current_teacher_temp(self) -> float:
        return teacher_temperature(self._step(), self.teacher_temp_warmup,
                                   self.warmup_teacher_temp, self.teacher_temp)

    def last_layer_frozen(self) -> bool:
        return self._step() < self.freeze_last_layer

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip each parameter's gradient norm, then drop the frozen layer's.

        Runs after backward (DDP-reduced, AMP-unscaled), before ``optimizer``
        steps. Per parameter: ``g <- g * min(1, c / (||g||_2 + 1e-6))``.
        """
        grads = [p.grad for group in optimizer.param_groups for p in group['params']
                 if p.grad is not None]
        if self.clip_grad_per_param is not None and grads:
            norms = torch._foreach_norm(grads)
            scales = [(self.clip_grad_per_param / (n + 1e-6)).clamp_(max=1.0) for n in norms]
            torch._foreach_mul_(grads, scales)
        if self.last_layer_frozen():
            for param in self.neck.last_layer.parameters():
                param.grad = None

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
        if self.training and not self.gradient_hook_attached and not self._warned_unhooked:
            self._warned_unhooked = True
            print_log('DINO: no ModelGradientHook in custom_hooks, so gradients are not '
                      'clipped per parameter and the last layer is not frozen; add '
                      "dict(type='ModelGradientHook') (reliability_hooks.py has it)",
                      logger='current', level=logging.WARNING)
        global_views = inputs[:self.num_global_views]
        with torch.no_grad():
            self.teacher.follow(self)
            teacher = self.teacher.module
            teacher_out = self._forward_views(teacher['backbone'], teacher['neck'],
                                              global_views)
        student_out = self._forward_views(self.backbone, self.neck, inputs)
        temp = self.current_teacher_temp()
        loss, stats = self.criterion(student_out, teacher_out, temp)
        # A fill on the device: torch.tensor(temp, device=...) would copy from the host.
        return dict(loss=loss, **stats, teacher_temp=loss.detach().new_full((), temp))
