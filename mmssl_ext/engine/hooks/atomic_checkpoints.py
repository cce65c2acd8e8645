"""Atomic checkpoints under mmengine's FlexibleRunner (FSDP, DeepSpeed, ...)."""
from mmengine.hooks import CheckpointHook, Hook

from mmssl_ext.registry import HOOKS
from mmssl_ext.utils.checkpoint_io import make_strategy_checkpoints_atomic


@HOOKS.register_module()
class AtomicStrategyCheckpointHook(Hook):
    """Give a FlexibleRunner's checkpoints the ``atomic_local`` guarantee.

    mmengine's ``Runner`` writes checkpoints through the checkpoint hook's
    file backend, which ``atomic_local`` makes atomic; ``FlexibleRunner``
    hands them to its strategy, which writes files or folders of shards in
    place and ignores the backend. When the checkpoint hook asks for
    ``atomic_local``, this hook routes the strategy's saves through a
    temporary path that is published once every rank has written
    (:func:`~mmssl_ext.utils.checkpoint_io.make_strategy_checkpoints_atomic`).
    A no-op under ``Runner``.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        strategy = getattr(runner, 'strategy', None)
        if strategy is None or not hasattr(strategy, 'save_checkpoint'):
            return
        if any(isinstance(hook, CheckpointHook)
               and (hook.backend_args or {}).get('backend') == 'atomic_local'
               for hook in runner.hooks):
            make_strategy_checkpoints_atomic(strategy)
