"""``randomness.deterministic=True`` on CUDA: made to work, or refused by name.

mmengine's ``deterministic=True`` calls ``torch.use_deterministic_algorithms(True)``,
under which a CUDA op without a deterministic kernel raises in the middle of
the first backward, and (torch before 2.9 or so, CUDA >= 10.2) every cuBLAS
matmul raises unless ``CUBLAS_WORKSPACE_CONFIG`` fixes the workspace. For ours:

* cuBLAS: the hook sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (torch's
  documented value) before the run's first matmul, unless it is set already.
* ``AdaptiveAvgPool2d(1)`` (mmpretrain's necks with ``with_avg_pool``, the
  ResNets' pool) is a mean in ATen at output size 1 (the composite
  ``adaptive_avg_pool2d`` calls ``mean`` on every device but XPU), whose
  backward is an expand: nothing to do. An adaptive pool of another output
  size has no deterministic CUDA backward and is refused.
* torchvision's ``roi_align`` (MaskCo's region features) switches by itself,
  under deterministic algorithms on CUDA, to its pure-PyTorch version, whose
  backward is deterministic: nothing to do.
* The bicubic interpolation of a ViT's position embedding
  (``upsample_bicubic2d`` backward; DINO's local crops) has no deterministic
  CUDA kernel: the run is refused before the first step with a message that
  names the op (the model's own ``nondeterministic_cuda_ops()``).

On the CPU every one of these ops is deterministic, and nothing is refused.
"""
import os
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from mmssl_ext.registry import HOOKS

from .model_gradient import unwrapped_model

# torch's documented values (either makes cuBLAS deterministic).
CUBLAS_DETERMINISTIC_WORKSPACES = (':4096:8', ':16:8')


def use_deterministic_cublas() -> str:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` to ``:4096:8`` when unset, and return
    its value; refuse a value cuBLAS is not deterministic with. Takes effect
    only when called before the process's first cuBLAS call (torch reads the
    workspace size once)."""
    value = os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', CUBLAS_DETERMINISTIC_WORKSPACES[0])
    if value not in CUBLAS_DETERMINISTIC_WORKSPACES:
        raise RuntimeError(
            f'randomness.deterministic=True, but CUBLAS_WORKSPACE_CONFIG={value!r}: cuBLAS is '
            f'deterministic only with {" or ".join(CUBLAS_DETERMINISTIC_WORKSPACES)}; unset it '
            'or set one of these')
    return value


def nondeterministic_cuda_ops(model: nn.Module) -> List[str]:
    """The ops of ``model``'s training step that have no deterministic CUDA
    backward, each with where it comes from: the model's own
    ``nondeterministic_cuda_ops()`` when it has one, plus every adaptive pool
    of an output size other than 1 (at 1 ATen computes a mean)."""
    ops = list(getattr(model, 'nondeterministic_cuda_ops', lambda: [])())
    for name, module in model.named_modules():
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d)) and \
                module.output_size not in (1, (1, ), (1, 1), [1], [1, 1]):
            ops.append(f'adaptive_avg_pool backward ({name}, output size '
                       f'{module.output_size})')
    return ops


@HOOKS.register_module()
class DeterministicCUDAHook(Hook):
    """With deterministic algorithms on (``randomness.deterministic=True``)
    and the model on a GPU: fix cuBLAS's workspace (:func:`use_deterministic_cublas`)
    and refuse, before the run's first step, a model with an op that has no
    deterministic CUDA backward (:func:`nondeterministic_cuda_ops`). Does
    nothing otherwise."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if not torch.are_deterministic_algorithms_enabled():
            return
        model = unwrapped_model(runner)
        if not any(p.is_cuda for p in model.parameters()):
            return
        had_workspace = 'CUBLAS_WORKSPACE_CONFIG' in os.environ
        workspace = use_deterministic_cublas()
        if not had_workspace:
            print_log(f'DeterministicCUDAHook: CUBLAS_WORKSPACE_CONFIG={workspace} (cuBLAS '
                      'deterministic, as torch requires under deterministic algorithms).',
                      logger='current')
        ops = nondeterministic_cuda_ops(model)
        if ops and not torch.is_deterministic_algorithms_warn_only_enabled():
            raise RuntimeError(
                f'randomness.deterministic=True, but {type(model).__name__} uses ops without '
                f'a deterministic CUDA backward: {"; ".join(ops)}. Set '
                'randomness.deterministic=False (runs stay reproducible up to the order of '
                'float sums), or train on the CPU. See docs/en/reliability.md, '
                '"Determinism on CUDA".')
