"""Momentum (EMA) encoders, updated without a host read per step.

mmpretrain's ``CosineEMA`` computes its momentum in ``avg_func``, once per
parameter, with ``math.cos`` of the ``steps`` buffer: on a GPU each call waits
for the device (about 165 waits a step for a ResNet-50 backbone and neck), and
mmengine's ``BaseAveragedModel.update_parameters`` adds two more reads of
``steps`` (``== 0``, ``% interval``) to every EMA. :class:`MomentumEMA`
keeps the step count on the host as well (read from the buffer once after
building or loading, written back without a wait), computes the momentum
once per step, and updates every parameter with one fused
``torch._foreach_lerp_``; :class:`CosineMomentumEMA` adds ``CosineEMA``'s
schedule. The state dicts (``module.*``, ``steps``) and the values are those
of mmengine's and mmpretrain's classes, so checkpoints load either way.
"""
import math
from typing import Optional, Sequence

import torch
from mmengine.logging import MessageHub
from mmengine.model import ExponentialMovingAverage
from torch import nn

from mmssl_ext.registry import MODELS


def _named_submodules(owner: nn.Module, names: Sequence[str]) -> nn.ModuleDict:
    return nn.ModuleDict({name: getattr(owner, name) for name in names})


@MODELS.register_module()
class MomentumEMA(ExponentialMovingAverage):
    """mmengine's ``ExponentialMovingAverage`` (``avg <- (1 - m) avg + m
    online``, MoCo's key encoder, MaskCo's and LooC's target networks) with
    the step count kept on the host and one fused update.

    Args:
        model: the online modules to follow (deep-copied).
        momentum (float): weight ``m`` of the online parameters.
        interval (int): steps between updates. Defaults to 1.
        device: where the copy lives. Defaults to the model's.
        update_buffers (bool): average the buffers too (else copied).
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0002, interval: int = 1,
                 device: Optional[torch.device] = None, update_buffers: bool = False) -> None:
        super().__init__(model, momentum, interval, device, update_buffers)
        self._host_steps: Optional[int] = 0  # None: read the buffer at the next update

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._host_steps = None

    @classmethod
    def of_submodules(cls, owner: nn.Module, names: Sequence[str], **kwargs) -> 'MomentumEMA':
        """A momentum copy of the submodules ``names`` of ``owner`` (an
        algorithm's ``backbone``, ``neck`` ...), keyed by those names in
        ``.module`` (``target_net.module.backbone.*``: the official state-dict
        layout); :meth:`follow` updates it from the same submodules."""
        ema = cls(_named_submodules(owner, names), **kwargs)
        ema.followed_names = tuple(names)
        return ema

    def follow(self, owner: nn.Module) -> None:
        """One update from the submodules of ``owner`` named at
        :meth:`of_submodules`."""
        self.update_parameters(_named_submodules(owner, self.followed_names))

    def momentum_at(self, step: int) -> float:
        """The online parameters' weight at ``step``."""
        return self.momentum

    def avg_func(self, averaged_param: torch.Tensor, source_param: torch.Tensor,
                 steps: torch.Tensor) -> None:
        # Kept for callers of the per-parameter API; update_parameters does
        # not come through here.
        averaged_param.lerp_(source_param, self.momentum_at(int(steps)))

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """One step: copy at step 0, else average every ``interval`` steps;
        buffers copied unless ``update_buffers``."""
        source = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if self._host_steps is None:  # once after a checkpoint was loaded
            self._host_steps = int(self.steps)
        step = self._host_steps
        pairs = [(avg, source[name].detach()) for name, avg in self.avg_parameters.items()]
        if step == 0:
            torch._foreach_copy_([a.data for a, _ in pairs],
                                 [s.to(a.device) for a, s in pairs])
        elif step % self.interval == 0:
            floating = [(a.data, s.to(a.device)) for a, s in pairs if a.dtype.is_floating_point]
            if floating:
                averaged, online = zip(*floating)
                torch._foreach_lerp_(list(averaged), list(online), self.momentum_at(step))
        if not self.update_buffers:
            for averaged, online in zip(self.module.buffers(), model.buffers()):
                averaged.data.copy_(online.data.to(averaged.device))
        # The host's count is the truth: written to the buffer (no wait), so
        # that checkpoints hold it, even after a guard put the buffer back.
        self._host_steps = step + 1
        self.steps.fill_(step + 1)


@MODELS.register_module()
class CosineMomentumEMA(MomentumEMA):
    """EMA whose update weight follows a cosine from ``momentum`` to
    ``end_momentum`` over the run (BYOL's target network, DINO's teacher).

    At step ``t`` of ``T`` (``max_iters`` in the message hub, as mmpretrain's
    ``CosineEMA`` reads it), with ``c = (cos(pi t / T) + 1) / 2``, the weight
    of the online parameters is ``m_t = end - (end - momentum) * c`` and
    ``avg <- (1 - m_t) avg + m_t online``. With ``max_iters`` unset, the
    weight stays ``momentum`` (mmengine's ``ExponentialMovingAverage``).

    Args:
        model: the online modules to follow (deep-copied).
        momentum (float): weight of the online parameters at step 0
            (1 - tau_base). Defaults to 0.004.
        end_momentum (float): weight at the last step. Defaults to 0.
        interval (int): steps between updates. Defaults to 1.
        device: where the copy lives. Defaults to the model's.
        update_buffers (bool): average the buffers too (else copied).
    """

    def __init__(self, model: nn.Module, momentum: float = 0.004, end_momentum: float = 0.,
                 interval: int = 1, device: Optional[torch.device] = None,
                 update_buffers: bool = False) -> None:
        super().__init__(model, momentum, interval, device, update_buffers)
        self.end_momentum = end_momentum

    def momentum_at(self, step: int) -> float:
        """The online parameters' weight at ``step``."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if not max_iters:
            return self.momentum
        annealing = (math.cos(math.pi * step / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * annealing
