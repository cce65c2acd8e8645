"""Steps with a non-finite loss or gradient: skipped within a budget, else a clean stop."""
import math
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
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
    first and skips ``optimizer.step()``, so the pre-hook never sees them.
    The hook reads the scale after each iteration instead: when it dropped
    (a dynamic scaler backs off on every skipped step), or when a loss term
    is not finite, the scaler skipped the step, and the buffers are put back
    as for a dropped step. A step with non-finite loss terms counts against
    ``max_skipped`` as any fault does: a lower scale cannot fix a forward
    pass that overflows. A gradient overflow with finite loss terms is the
    scaler's routine (a dynamic scaler provokes one every ``growth_interval``
    steps by doubling the scale) and is logged but not counted: counting it
    would end healthy fp16 runs after ``max_skipped`` scale probes.

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
    """

    priority = 'ABOVE_NORMAL'
    _COUNT_KEY = 'non_finite_skipped_steps'

    def __init__(self, max_skipped: int = 10, action: str = 'skip',
                 save_checkpoint: bool = True, restore_buffers: bool = True) -> None:
        if action not in ('skip', 'stop'):
            raise ValueError(f"NonFiniteGuardHook: action must be 'skip' or 'stop', got "
                             f'{action!r}')
        if max_skipped < 0:
            raise ValueError(f'NonFiniteGuardHook: max_skipped must be >= 0, got {max_skipped}')
        self.max_skipped = max_skipped
        self.action = action
        self.save_checkpoint = save_checkpoint
        self.restore_buffers = restore_buffers
        self._buffer_copies: List[tuple] = []
        self.skipped = 0
        self._names: Dict[int, str] = {}
        self._handles: list = []
        self._bad_params: Optional[List[str]] = None
        self._scalers: list = []
        self._scales: List[float] = []
        self.overflow_steps = 0

    # -- installation -------------------------------------------------------
    def before_train(self, runner) -> None:
        model = unwrapped_model(runner)
        self._names = {id(p): name for name, p in model.named_parameters()}
        self.skipped = int(runner.message_hub.get_info(self._COUNT_KEY, 0) or 0)
        # DeepSpeed's optimizer takes no pre-hook: it has its own overflow
        # handling, and there is no step of ours to drop (a warning says so).
        self._handles = register_step_pre_hooks(runner, self._check, 'NonFiniteGuard')
        # After load_or_resume: a resumed scaler starts from its saved scale.
        self._scalers = [w.loss_scaler for w in optim_wrappers(runner)
                         if getattr(w, 'loss_scaler', None) is not None]
        self._scales = [scaler.get_scale() for scaler in self._scalers]

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self.restore_buffers:
            return
        model = unwrapped_model(runner)
        buffers = [b for b in model.buffers() if b is not None]
        if [id(b) for b, _ in self._buffer_copies] != [id(b) for b in buffers] or any(
                b.shape != c.shape for b, c in self._buffer_copies):
            self._buffer_copies = [(b, b.detach().clone()) for b in buffers]
        else:  # the same buffers as last time: refresh the copies in place
            for buffer, copy in self._buffer_copies:
                copy.copy_(buffer.detach())

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _check(self, optimizer, args, kwargs) -> None:
        params = [p for group in optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        if not params:
            return None
        finite = all_finite([p.grad for p in params])
        if is_distributed():
            flag = finite.to(torch.float32).reshape(1)
            if flag.device.type == 'cpu' and torch_dist.get_backend() == 'nccl':
                flag = flag.cuda()
            torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MIN)
            finite = flag[0] > 0
        if bool(finite):
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
        scale_drops = self._scale_drops()
        if self._bad_params is None and (scale_drops or (terms and self._scalers)):
            self._restore_buffers()
            if not terms:
                self.overflow_steps += 1
                print_log(f'NonFiniteGuard: iteration {iteration}: the AMP loss scaler '
                          f'skipped the step (gradient overflow; scale {scale_drops[0][0]:g} '
                          f'-> {scale_drops[0][1]:g}); buffers restored, not counted as a '
                          'fault.', logger='current', level=20)
                return
            self._bad_params = [_SCALER_SKIPPED]
        if self._bad_params is None:
            if terms:
                checked = 'finite' if self._handles else 'unchecked'
                print_log(f'NonFiniteGuard: iteration {iteration}: non-finite logged '
                          f'values {terms} with {checked} gradients; the step was taken.',
                          logger='current', level=30)
            return
        bad, self._bad_params = self._bad_params, None
        self._restore_buffers()
        self.skipped += 1
        runner.message_hub.update_info(self._COUNT_KEY, self.skipped)
        listed = (', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
                  if bad else '(none on this process)')
        cause = (f'non-finite loss terms {terms}' if terms else
                 'finite loss terms on this process (the fault came from another process)')
        report = (f'iteration {iteration}: {cause}; non-finite gradients in {listed}')
        if bad == [_SCALER_SKIPPED]:
            report = f'iteration {iteration}: {cause}; {_SCALER_SKIPPED}'

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

    def _scale_drops(self) -> List[tuple]:
        """(before, after) of each loss scaler whose scale dropped this iteration."""
        drops = []
        for index, scaler in enumerate(self._scalers):
            scale = scaler.get_scale()  # one host sync per iteration, after the step
            if scale < self._scales[index]:
                drops.append((self._scales[index], scale))
            self._scales[index] = scale
        return drops


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
