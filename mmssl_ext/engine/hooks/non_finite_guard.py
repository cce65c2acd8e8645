"""Steps with a non-finite loss or gradient: skipped within a budget, else a clean stop."""
import math
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmssl_ext.registry import HOOKS

from .model_gradient import optim_wrappers, register_step_pre_hooks, unwrapped_model


def _norms_finite(groups: List[List[torch.Tensor]], order: float) -> torch.Tensor:
    flags = []
    for group in groups:
        if hasattr(torch, '_foreach_norm'):
            norms = torch._foreach_norm(group, order)
        else:
            norms = [torch.linalg.vector_norm(t, order) for t in group]
        flags.append(torch.isfinite(torch.stack(norms)).all())
    return torch.stack([flag.to(flags[0].device) for flag in flags]).all()


def all_finite(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """A 0-d bool tensor: every element of every tensor is finite.

    A tensor's 2-norm is finite when all its elements are, and
    ``torch._foreach_norm`` computes it in one kernel per (device, dtype)
    group (about 2 ms for ResNet-18's gradients on a CPU core). The sum of
    squares can overflow for finite values (a float32 element of 1e20), so a
    non-finite 2-norm is checked again with the max-norm, which cannot
    overflow (8x slower on the CPU; only on that rare path).
    """
    groups: Dict[tuple, List[torch.Tensor]] = defaultdict(list)
    for tensor in tensors:
        groups[(tensor.device, tensor.dtype)].append(tensor)
    if not groups:
        return torch.tensor(True)
    finite = _norms_finite(list(groups.values()), 2.0)
    if bool(finite):
        return finite
    return _norms_finite(list(groups.values()), math.inf)


_SCALER_SKIPPED = 'the AMP loss scaler skipped the step (gradients not seen)'
_UNCHECKED = ('the gradients were not checked (the optimizer takes no pre-hook; its own '
              'overflow handling decided the step)')


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Detect non-finite gradients before the optimizer step; skip it or stop.

    A step-pre-hook on each optimizer (torch's ``register_step_pre_hook``)
    checks the gradients after backward (and after DDP's all-reduce, so
    every process sees the same gradients and takes the same decision; the
    flag is all-reduced too, for strategies that shard gradients). A
    non-finite gradient (a non-finite loss always gives one) drops the step:
    every gradient is discarded, so the optimizer leaves the parameters and
    its moments untouched, and the model's buffers are put back as they were
    before the iteration: the forward pass of a faulty batch has already
    written to them (a MoCo/MaskCo/NNCLR queue would hold its NaN keys for
    ever, BN running statistics, DINO's centre), so each iteration starts by
    copying them (``restore_buffers``; one copy of the buffers per
    iteration, e.g. 32 MiB for a 65536 x 128 queue). The momentum (EMA)
    encoders keep the step they took in the forward pass, toward online
    weights that did not change: harmless, and not worth a copy of a second
    network every iteration. The schedulers and the iteration counter go on.
    ``after_train_iter`` then logs the iteration, the loss terms that are
    not finite and the first parameters with non-finite gradients. After
    ``max_skipped`` dropped steps (or at the first with ``action='stop'``)
    it saves ``nonfinite_iter_{i}.pth`` in the work dir (the weights before
    the faulty step, for inspection; not the ``last_checkpoint`` that
    ``--resume`` picks) and stops the run with an error.

    With AMP (``AmpOptimWrapper``) the loss scaler finds infinite gradients
    first and skips ``optimizer.step()``, so the pre-hook never sees them. The
    hook tells a skipped step by its absence: at an update boundary of the
    wrapper (``should_update()``) the pre-hook did not run. Whatever the loss
    scale does (a static scale never drops), the buffers are then put back as
    for a dropped step. It counts against ``max_skipped`` as any fault does
    when a loss term of the accumulation window was not finite on any
    process (a lower scale cannot fix a forward pass that overflows), or when
    it is the ``max_overflow_streak``-th skipped step in a row (gradients
    that overflow at every scale, e.g. NaN from a finite loss). An isolated
    gradient overflow with finite loss terms is the scaler's routine (a
    dynamic scaler provokes one every ``growth_interval`` steps by doubling
    the scale) and is logged but not counted: counting it would end healthy
    fp16 runs after ``max_skipped`` scale probes.

    With gradient accumulation the buffers are copied at the start of each
    accumulation window, and a dropped step restores them to that point (a
    faulty first micro-batch has written to them before the step that fails).
    An optimizer that takes no pre-hook (DeepSpeed's engine: its own fp16
    overflow handling decides the step) cannot be checked: a non-finite loss
    term on any process then restores the buffers and counts as a fault.

    Every decision is the same on every process: the pre-hook's flag is
    all-reduced, a scaler skips on the all-reduced gradients, and the "non-
    finite loss term" flag is all-reduced whenever it decides (a collective
    only on skipped steps, or each step for an optimizer without pre-hook).

    Args:
        max_skipped (int): dropped steps tolerated over the run; the next one
            stops it. The count survives ``--resume`` (kept in the message
            hub). Defaults to 10.
        action (str): ``'skip'`` (within the budget) or ``'stop'`` at the
            first fault. Defaults to ``'skip'``.
        save_checkpoint (bool): save the inspection checkpoint when stopping.
            Defaults to True.
        restore_buffers (bool): undo what a dropped step's forward pass wrote
            to the model's buffers. Defaults to True.
        max_overflow_streak (int): the loss scaler's skipped steps in a row
            from which each is counted as a fault (24: a dynamic scale
            divided by 2**24, far below what any healthy fp16 run needs).
            Defaults to 24.
    """

    priority = 'ABOVE_NORMAL'
    _COUNT_KEY = 'non_finite_skipped_steps'

    def __init__(self, max_skipped: int = 10, action: str = 'skip',
                 save_checkpoint: bool = True, restore_buffers: bool = True,
                 max_overflow_streak: int = 24) -> None:
        if action not in ('skip', 'stop'):
            raise ValueError(f"NonFiniteGuardHook: action must be 'skip' or 'stop', got "
                             f'{action!r}')
        if max_skipped < 0:
            raise ValueError(f'NonFiniteGuardHook: max_skipped must be >= 0, got {max_skipped}')
        if max_overflow_streak < 1:
            raise ValueError('NonFiniteGuardHook: max_overflow_streak must be >= 1, got '
                             f'{max_overflow_streak}')
        self.max_skipped = max_skipped
        self.action = action
        self.save_checkpoint = save_checkpoint
        self.restore_buffers = restore_buffers
        self.max_overflow_streak = max_overflow_streak
        self._buffer_copies: List[tuple] = []
        self.skipped = 0
        self._names: Dict[int, str] = {}
        self._handles: list = []
        self._bad_params: Optional[List[str]] = None
        self._stepped = False  # a pre-hook ran in this iteration
        self._window_terms: Dict[str, float] = {}  # of the accumulation window
        self._copy_at_next_iter = True  # an accumulation window starts
        self.overflow_steps = 0
        self._overflow_streak = 0

    # -- installation -------------------------------------------------------
    def before_train(self, runner) -> None:
        model = unwrapped_model(runner)
        self._names = {id(p): name for name, p in model.named_parameters()}
        self.skipped = int(runner.message_hub.get_info(self._COUNT_KEY, 0) or 0)
        # DeepSpeed's optimizer takes no pre-hook (a warning says so): its own
        # overflow handling decides the step; after_train_iter still restores
        # the buffers and counts a fault on non-finite loss terms.
        self._handles = register_step_pre_hooks(runner, self._check, 'NonFiniteGuard')
        self._copy_at_next_iter = True

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self.restore_buffers:
            return
        model = unwrapped_model(runner)
        buffers = [b for b in model.buffers() if b is not None]
        if [id(b) for b, _ in self._buffer_copies] != [id(b) for b in buffers] or any(
                b.shape != c.shape for b, c in self._buffer_copies):
            self._buffer_copies = [(b, b.detach().clone()) for b in buffers]
        elif self._copy_at_next_iter:  # the same buffers: refresh the copies in place
            for buffer, copy in self._buffer_copies:
                copy.copy_(buffer.detach())

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _check(self, optimizer, args, kwargs) -> None:
        self._stepped = True
        params = [p for group in optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        if not params:
            return None
        if not _on_any_process(~all_finite([p.grad for p in params])):
            return None
        bad = [self._names.get(id(p), f'<param {tuple(p.shape)}>') for p in params
               if not bool(torch.isfinite(p.grad).all())]
        self._bad_params = (self._bad_params or []) + bad
        for p in params:
            p.grad = None  # an optimizer skips parameters without a gradient
        return None

    # -- reporting ----------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        terms = _non_finite_terms(outputs or {})
        iteration = runner.iter + 1
        self._window_terms.update(terms)
        stepped, self._stepped = self._stepped, False
        self._copy_at_next_iter = _at_update_boundary(runner)
        if not self._copy_at_next_iter:
            if terms:  # the accumulated gradients are checked at the window's end
                print_log(f'NonFiniteGuard: iteration {iteration}: non-finite loss terms '
                          f'{terms} within an accumulation window; its step is checked at '
                          'the window\'s end.', logger='current', level=30)
            return
        window_terms, self._window_terms = self._window_terms, {}
        if self._bad_params is None and self._handles and not stepped:
            # The pre-hook did not run at an update boundary: a loss scaler
            # skipped optimizer.step() (inf/NaN in the scaled gradients).
            self._restore_buffers()
            self._overflow_streak += 1
            if not _on_any_process(bool(window_terms)) and \
                    self._overflow_streak < self.max_overflow_streak:
                self.overflow_steps += 1
                print_log(f'NonFiniteGuard: iteration {iteration}: the AMP loss scaler '
                          f'skipped the step (gradient overflow; {self._scales_now(runner)}); '
                          'buffers restored, not counted as a fault.', logger='current',
                          level=20)
                return
            self._bad_params = [_SCALER_SKIPPED]
        elif self._bad_params is None and not self._handles and \
                _on_any_process(bool(window_terms)):
            self._bad_params = [_UNCHECKED]
        elif stepped:
            self._overflow_streak = 0
        if self._bad_params is None:
            if terms:
                print_log(f'NonFiniteGuard: iteration {iteration}: non-finite logged '
                          f'values {terms} with finite gradients; the step was taken.',
                          logger='current', level=30)
            return
        terms = window_terms
        bad, self._bad_params = self._bad_params, None
        self._restore_buffers()
        self.skipped += 1
        runner.message_hub.update_info(self._COUNT_KEY, self.skipped)
        listed = (', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
                  if bad else '(none on this process)')
        if terms:
            cause = f'non-finite loss terms {terms}'
        elif bad == [_SCALER_SKIPPED] and self._overflow_streak >= self.max_overflow_streak:
            cause = (f'finite loss terms, but {self._overflow_streak} steps in a row skipped '
                     f'by the loss scaler ({self._scales_now(runner)})')
        else:
            cause = 'finite loss terms on this process (the fault came from another process)'
        report = (f'iteration {iteration}: {cause}; non-finite gradients in {listed}')
        if bad in ([_SCALER_SKIPPED], [_UNCHECKED]):
            report = f'iteration {iteration}: {cause}; {bad[0]}'

        if self.action == 'skip' and self.skipped <= self.max_skipped:
            print_log(f'NonFiniteGuard: {report}: step skipped ({self.skipped} of at most '
                      f'{self.max_skipped} skipped steps).', logger='current', level=30)
            return
        saved = ''
        if self.save_checkpoint:
            name = f'nonfinite_iter_{iteration}.pth'
            runner.save_checkpoint(runner.work_dir, name, save_optimizer=True,
                                   save_param_scheduler=True)
            saved = (f' The weights before this step are in {runner.work_dir}/{name} for '
                     'inspection.')
        why = ('action=\'stop\'' if self.action == 'stop' else
               f'{self.skipped} skipped steps exceed max_skipped={self.max_skipped}')
        raise RuntimeError(
            f'NonFiniteGuard: {report}; stopping ({why}).{saved} Usual fixes: a lower '
            'learning rate or longer warm-up, gradient clipping (optim_wrapper.clip_grad='
            'dict(max_norm=...)), AMP with a loss scaler, or checking the data of this '
            'iteration. Resume from the last regular checkpoint with --resume.')

    def _restore_buffers(self) -> None:
        with torch.no_grad():
            for buffer, copy in self._buffer_copies:
                buffer.copy_(copy)

    @staticmethod
    def _scales_now(runner) -> str:
        """The loss scales, for a message (a host sync: on skipped steps only)."""
        scales = [w.loss_scaler.get_scale() for w in optim_wrappers(runner)
                  if getattr(w, 'loss_scaler', None) is not None]
        return 'scale now ' + ', '.join(f'{s:g}' for s in scales) if scales else 'no scaler'


def _at_update_boundary(runner) -> bool:
    """Whether this iteration ended an accumulation window (the wrappers'
    ``should_update()``, read after ``update_params``); True for a wrapper
    that does not say."""
    flags = [w.should_update() for w in optim_wrappers(runner) if hasattr(w, 'should_update')]
    return any(flags) if flags else True


def _on_any_process(flag: Union[bool, torch.Tensor]) -> bool:
    """``flag`` (a bool, or a 0-d bool tensor left on its device until the
    one host read) or-ed over the processes (every process must call it)."""
    if not is_distributed():
        return bool(flag)
    value = torch.as_tensor(flag).to(torch.float32).reshape(1)
    all_reduce(value, op='max')  # mmengine's: on the backend's device, and back
    return bool(value[0] > 0)


def _non_finite_terms(outputs: dict) -> Dict[str, float]:
    terms = {}
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if isinstance(value, (int, float)) and not math.isfinite(value):
            terms[key] = value
    return terms
