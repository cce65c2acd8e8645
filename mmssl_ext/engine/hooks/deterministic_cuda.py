"""``randomness.deterministic=True`` on CUDA: made to work, or refused by name.

mmengine's ``deterministic=True`` calls ``torch.use_deterministic_algorithms(True)``,
under which a CUDA op without a deterministic kernel raises in the middle of
the first backward. For ours:

* ``adaptive_avg_pool2d`` (mmpretrain's MoCo v2 / non-linear necks with
  ``with_avg_pool=True``: MoCo v2, SimCLR, BYOL, LooC, NNCLR, DiLo) has an
  exact deterministic equivalent at output size 1, the mean over the map:
  the pools are swapped for :class:`GlobalAvgPool2d` (no parameters, no
  state: checkpoints are unchanged).
* torchvision's ``roi_align`` backward (MaskCo's region features; atomic
  adds) and the bicubic interpolation of a ViT's position embedding
  (``upsample_bicubic2d`` backward; DINO's local crops) have none: the run
  is refused before the first step with a message that names the op.

On the CPU every one of these ops is deterministic, and nothing is refused.
"""
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from mmssl_ext.registry import HOOKS

from .model_gradient import unwrapped_model


class GlobalAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(1)`` as a mean: the same values and gradients,
    with a deterministic backward on CUDA (an expand, no atomic adds)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1), keepdim=True)


def _is_global_pool(module: nn.Module) -> bool:
    size = getattr(module, 'output_size', None)
    return isinstance(module, nn.AdaptiveAvgPool2d) and size in (1, (1, 1), [1, 1])


def use_deterministic_pooling(model: nn.Module) -> int:
    """Swap every ``AdaptiveAvgPool2d`` to 1 x 1 for :class:`GlobalAvgPool2d`,
    in place; returns how many were swapped."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_global_pool(child):
                setattr(parent, name, GlobalAvgPool2d())
                swapped += 1
    return swapped


def nondeterministic_cuda_ops(model: nn.Module) -> List[str]:
    """The ops of ``model``'s training step that have no deterministic CUDA
    backward (after :func:`use_deterministic_pooling`), each with where it
    comes from. Read from the model's own ``nondeterministic_cuda_ops()``
    when it has one, plus any adaptive pool left of another output size."""
    ops = list(getattr(model, 'nondeterministic_cuda_ops', lambda: [])())
    for name, module in model.named_modules():
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d)) and \
                not _is_global_pool(module):
            ops.append(f'adaptive_avg_pool backward ({name}, output size '
                       f'{module.output_size})')
    return ops


@HOOKS.register_module()
class DeterministicCUDAHook(Hook):
    """With deterministic algorithms on (``randomness.deterministic=True``)
    and the model on a GPU: swap the global pools for their deterministic
    equivalent and refuse, before the first step, a model with an op that
    has none (``nondeterministic_cuda_ops``). Does nothing otherwise."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        if not torch.are_deterministic_algorithms_enabled():
            return
        model = unwrapped_model(runner)
        swapped = use_deterministic_pooling(model)
        if swapped:
            print_log(f'DeterministicCUDAHook: {swapped} adaptive average pools to 1x1 now '
                      'compute a mean (same values, a deterministic backward on CUDA).',
                      logger='current')
        on_cuda = any(p.is_cuda for p in model.parameters())
        ops = nondeterministic_cuda_ops(model) if on_cuda else []
        if ops and not torch.is_deterministic_algorithms_warn_only_enabled():
            raise RuntimeError(
                f'randomness.deterministic=True, but {type(model).__name__} uses ops without '
                f'a deterministic CUDA backward: {"; ".join(ops)}. Set '
                'randomness.deterministic=False (runs stay reproducible up to the order of '
                'float sums), or train on the CPU. See docs/en/reliability.md, '
                '"Determinism on CUDA".')
