"""tools/train.py, SIGKILLed at one point that the soak test chose.

    MMSSL_KILL_AT=POINT MMSSL_KILL_LOG=FILE python tests/soak_victim.py CONFIG [train.py args]

POINT (iterations are 1-based, as the log counts them):

- ``startup``: the runner is built and any checkpoint resumed, no iteration run yet;
- ``forward:I``: iteration I's forward pass (the loss) is done, its backward is not;
- ``step:I``: iteration I's optimizer step is done, its hooks (the checkpoint) are not;
- ``checkpoint:I``: ``iter_I.pth`` is written and fsynced under its temporary
  name, not yet renamed to its own (the moment an unprotected save would leave
  half a file under the checkpoint's name).

Without ``MMSSL_KILL_AT`` the run goes to completion. The point is appended to
``MMSSL_KILL_LOG`` just before the kill, so that the test can tell the planned
kill from a crash or from a run that never reached the point. A test helper,
not a tool: the process kills itself with SIGKILL, which no handler sees.
"""
import os
import os.path as osp
import runpy
import signal
import sys

from mmengine.hooks import Hook
from mmengine.runner import Runner

TRAIN = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'train.py')


def _die(point: str) -> None:
    with open(os.environ['MMSSL_KILL_LOG'], 'a') as log:
        log.write(point + '\n')
        log.flush()
        os.fsync(log.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


class KillHook(Hook):
    """Kills the process at a ``startup``, ``forward:I`` or ``step:I`` point.

    HIGHEST priority: ``step:I`` fires before any other hook of iteration I
    (EMA updates, the checkpoint) has run.
    """

    priority = 'HIGHEST'

    def __init__(self, point: str) -> None:
        self.point = point
        kind, _, iteration = point.partition(':')
        self.kind, self.iteration = kind, int(iteration or 0)

    def before_train(self, runner) -> None:
        if self.kind == 'startup':
            _die(self.point)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.kind == 'forward' and runner.iter + 1 == self.iteration:
            runner.model.register_forward_hook(lambda *args: _die(self.point))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.kind == 'step' and runner.iter + 1 == self.iteration:
            _die(self.point)


def _kill_before_publishing(point: str) -> None:
    """Kill in the rename that would publish ``iter_I.pth`` (checkpoint_io's
    atomic write renames the fsynced temporary file with ``os.replace``)."""
    name = f'iter_{point.partition(":")[2]}.pth'
    replace = os.replace

    def replace_or_die(src, dst, *args, **kwargs):
        if osp.basename(os.fspath(dst)) == name:
            _die(point)
        return replace(src, dst, *args, **kwargs)

    os.replace = replace_or_die


def main() -> None:
    point = os.environ.get('MMSSL_KILL_AT', '')
    if point.startswith('checkpoint:'):
        _kill_before_publishing(point)
    elif point:
        train = Runner.train

        def train_with_kill_hook(runner):
            runner.register_hook(KillHook(point))
            return train(runner)

        Runner.train = train_with_kill_hook
    sys.argv = [TRAIN] + sys.argv[1:]
    runpy.run_path(TRAIN, run_name='__main__')


if __name__ == '__main__':
    main()
