"""Refuse checkpoints that do not fit the model, instead of loading part of them."""
import re

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import load_state_dict

from mmssl_ext.registry import HOOKS
from mmssl_ext.utils.checkpoint_fit import CheckpointMismatchError, describe_architecture


def _first_lines(text: str, count: int = 12) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    extra = f'\n  ... ({len(lines) - count} more lines)' if len(lines) > count else ''
    return '\n  '.join(lines[:count]) + extra


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Make ``--resume`` and ``load_from`` fail on a checkpoint of another model.

    mmengine loads both with ``strict=False``: a checkpoint of another
    architecture or config (another depth, queue length, head width) is
    loaded where names and shapes agree, the rest is reported in a warning
    and training goes on from a model that is partly random. This hook runs
    when the checkpoint is read (``after_load_checkpoint``), loads it with
    ``strict=True`` (the model's own ``_load_from_state_dict`` still converts
    legacy keys, e.g. MaskCo's old queue names), and raises with the missing,
    unexpected and shape-mismatched keys and what to do instead.

    Args:
        allow_partial (bool): only report, as mmengine does. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_partial: bool = False) -> None:
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.allow_partial:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        # mmengine strips the DDP prefix the same way when it loads.
        state = {re.sub(r'^module\.', '', key): value for key, value in state.items()}
        try:
            load_state_dict(model, state, strict=True)
        except RuntimeError as err:
            action = 'resume from' if getattr(runner, '_resume', False) else 'load'
            raise CheckpointMismatchError(
                f'cannot {action} this checkpoint: it does not match the model built from '
                f'the config ({type(model).__name__}); it was saved from another '
                f'architecture or config.\n'
                f'  checkpoint: {describe_architecture(state)}\n'
                f'  model: {describe_architecture(model.state_dict())}\n'
                f'  {_first_lines(str(err))}\n'
                'Fix: use the config the checkpoint was trained with; or, to start from '
                'its backbone only, set model.backbone.init_cfg=dict(type=\'Pretrained\', '
                "checkpoint=PATH, prefix='backbone.') instead of load_from; or set "
                "custom_hooks' CheckpointMatchHook(allow_partial=True) to load what fits."
            ) from None
