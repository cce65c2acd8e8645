"""torch.compile of chosen submodules, for models whose whole step does not compile."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmssl_ext.registry import HOOKS


@HOOKS.register_module()
class CompileModulesHook(Hook):
    """Compile named submodules of the model in place (``nn.Module.compile``).

    mmengine's ``compile=True`` compiles the whole ``train_step``. That fails
    for algorithms that write a buffer inside the step that the backward still
    reads: MoCo v2's and MaskCo's key queue (aot_autograd saves the queue as
    a graph input, the enqueue bumps its version, and the backward raises
    "modified by an inplace operation"). Compiling the networks instead
    (backbone, necks) leaves the queue and momentum updates in eager mode and
    keeps the state-dict keys unchanged (no ``_orig_mod.`` prefix), so
    checkpoints load either way.

    Usage: ``custom_hooks = [dict(type='CompileModulesHook', modules=('backbone',
    'neck'))]``; ``**compile_kwargs`` go to ``torch.compile`` (``mode``,
    ``backend``, ``dynamic`` ...).

    Args:
        modules: attribute names of the model's submodules to compile.
    """

    priority = 'VERY_HIGH'

    def __init__(self, modules: Sequence[str] = ('backbone', ), **compile_kwargs) -> None:
        self.modules = tuple(modules)
        self.compile_kwargs = compile_kwargs

    def before_train(self, runner) -> None:
        self.compile(runner.model, self.modules, **self.compile_kwargs)

    @staticmethod
    def compile(model, modules: Sequence[str], **compile_kwargs) -> None:
        """Compile ``model.<name>`` in place for each name (wrappers unwrapped)."""
        model = model.module if is_model_wrapper(model) else model
        for name in modules:
            module = getattr(model, name, None)
            if module is None:
                children = [n for n, _ in model.named_children()]
                raise ValueError(f'CompileModulesHook: {type(model).__name__} has no submodule '
                                 f'{name!r}; its children are {children}')
            module.compile(**compile_kwargs)
