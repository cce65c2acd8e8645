"""The model's own gradient policy, applied between backward and the optimizer step."""
from typing import Callable, Iterator, List

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import nn

from mmssl_ext.registry import HOOKS


def unwrapped_model(runner) -> nn.Module:
    """The runner's model without its DDP/FSDP wrapper."""
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def optim_wrappers(runner) -> List:
    """The runner's optimizer wrappers (one, or each of an ``OptimWrapperDict``)."""
    if isinstance(runner.optim_wrapper, OptimWrapperDict):
        return list(runner.optim_wrapper.values())
    return [runner.optim_wrapper]


def hookable_optimizers(runner, owner: str) -> Iterator:
    """Each optimizer of the runner that takes torch's step pre-hooks.

    DeepSpeed's engine steps its own optimizer, which has none: it is reported
    (as ``owner``'s warning) and left out.
    """
    for wrapper in optim_wrappers(runner):
        optimizer = getattr(wrapper, 'optimizer', None)
        if not hasattr(optimizer, 'register_step_pre_hook'):
            print_log(f'{owner}: {type(optimizer).__name__} takes no step pre-hook; its '
                      'gradients are not seen by this hook.', logger='current', level=30)
            continue
        yield optimizer


def register_step_pre_hooks(runner, hook: Callable, owner: str) -> List:
    """``hook(optimizer, args, kwargs)`` before every step; returns the handles."""
    return [opt.register_step_pre_hook(hook) for opt in hookable_optimizers(runner, owner)]


@HOOKS.register_module()
class ModelGradientHook(Hook):
    """Call the model's ``before_optimizer_step(optimizer)`` before each step.

    Some recipes change gradients between backward and the update in ways an
    ``OptimWrapper``'s ``clip_grad`` cannot express (DINO: each parameter's
    gradient norm clipped at 3.0, and the output layer's gradients removed
    while it is frozen). The model states that policy; this hook runs it from
    a step pre-hook of each optimizer, i.e. after DDP's all-reduce and after
    AMP's unscaling, right before the update. A model without the method is
    left alone, so every config can carry the hook (``reliability_hooks.py``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._handles: list = []

    def before_train(self, runner) -> None:
        model = unwrapped_model(runner)
        policy = getattr(model, 'before_optimizer_step', None)
        if policy is None:
            return

        def apply(optimizer, args, kwargs):
            policy(optimizer)

        self._handles = register_step_pre_hooks(runner, apply, type(self).__name__)
        if hasattr(model, 'gradient_hook_attached'):
            model.gradient_hook_attached = bool(self._handles)

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
