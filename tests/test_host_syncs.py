"""No training step of ours reads a tensor on the host.

On a GPU, ``Tensor.item()``, ``int(t)``, ``float(t)``, ``bool(t)``,
``t.tolist()`` and ``t.numpy()`` wait for every kernel queued before them:
the host stops feeding the device. This test records every such call
during a training step (forward, backward, update) of each method's
synthetic config, on the CPU, and allows only the call sites listed below,
each with its reason.
"""
import collections
import contextlib
import os.path as osp
import sys
from typing import Iterator, List, Tuple

import pytest
import torch

from .conftest import OUR_SYNTHETIC_CONFIGS, REPO_ROOT

HOST_READS = ('item', '__int__', '__float__', '__bool__', '__index__', 'tolist', 'numpy')

# (file name, function) -> why it may read a tensor on the host.
ALLOWED = {
    ('optimizer.py', '_get_value'):
        "torch's Adam/AdamW read their step count, which they keep in a CPU tensor (unless "
        'capturable or fused): no device involved',
    ('averaged_model.py', 'update_parameters'):
        "mmengine's ExponentialMovingAverage, inside mmpretrain's MoCo (DiLo's MoCo v2 "
        'baseline): reads its steps buffer twice a step; our algorithms use MomentumEMA',
    ('moco.py', '_dequeue_and_enqueue'):
        "mmpretrain's MoCo queue pointer (DiLo's MoCo v2 baseline); ours is EmbeddingQueue",
}


@contextlib.contextmanager
def record_host_reads() -> Iterator[List[Tuple[str, str, int, str]]]:
    """Record (method, file, line, function) of the caller of each host read."""
    calls: List[Tuple[str, str, int, str]] = []
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def recording(name, original):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1)
            calls.append((name, caller.f_code.co_filename, caller.f_lineno,
                          caller.f_code.co_name))
            return original(self, *args, **kwargs)
        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, recording(name, original))
    try:
        yield calls
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def test_the_recorder_sees_each_kind_of_host_read():
    x = torch.ones(1)
    with record_host_reads() as calls:
        x.item(), int(x), float(x), bool(x), x.tolist(), x.numpy()
        [0, 1][x.long()]
    assert [c[0] for c in calls] == ['item', '__int__', '__float__', '__bool__', 'tolist',
                                     'numpy', '__index__']
    assert torch.Tensor.item is not None and 'read' not in torch.Tensor.item.__name__


@pytest.mark.parametrize('config', OUR_SYNTHETIC_CONFIGS, ids=lambda c: c.split('/')[0] + '-'
                         + c.split('/')[1].split('_')[0])
def test_a_training_step_reads_no_tensor_on_the_host(config, synthetic_root):
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.analysis.benchmark import build_for_training, one_batch
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cfg.train_dataloader.batch_size = 4
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = 16
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model, optim_wrapper = build_for_training(cfg, 'cpu')
    batches = [one_batch(cfg, synthetic_root, 4) for _ in range(2)]
    model.train_step(batches[0], optim_wrapper)  # first step: lazy set-up allowed
    with record_host_reads() as calls:
        model.train_step(batches[1], optim_wrapper)
    found = collections.Counter(
        (osp.basename(path), function, line, name) for name, path, line, function in calls
        if (osp.basename(path), function) not in ALLOWED)
    assert not found, '\n'.join(f'{n}x {name} in {file}:{line} ({function})'
                                for (file, function, line, name), n in found.items())


def test_host_data_goes_to_a_gpu_from_pinned_memory_without_blocking(monkeypatch):
    """host_to_device (DetCon's cells, MaskCo's boxes, block-wise masks): to
    a GPU, pinned and non-blocking (a GPU is simulated: the calls are
    recorded); on the CPU, a plain copy."""
    import numpy as np

    from mmssl_ext.models.utils import host_to_device
    calls = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        calls.append(('to', args, kwargs))
        return real_to(self, dtype=kwargs['dtype']) if kwargs.get('dtype') else self

    monkeypatch.setattr(torch.Tensor, 'pin_memory', lambda self: calls.append('pin') or self)
    monkeypatch.setattr(torch.Tensor, 'to', to)
    out = host_to_device(np.arange(3, dtype=np.int32), 'cuda', dtype=torch.long)
    assert calls == ['pin', ('to', ('cuda', ), dict(dtype=torch.long, non_blocking=True))]
    assert out.dtype == torch.long
    calls.clear()
    host_to_device(torch.zeros(2), 'cpu')
    assert calls == [('to', ('cpu', ), dict(dtype=None))]
    calls.clear()
    host_to_device(torch.zeros(2), None)  # no device named: the tensor stays where it is
    assert calls == [('to', (None, ), dict(dtype=None))]
