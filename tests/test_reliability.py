"""Fault injection: each guarantee of docs/en/reliability.md, broken on purpose.

Checkpoints as untrusted input, atomic checkpoint writes, exact resume after a
SIGKILL, non-finite steps, bad samples, a dead process in a 2-process run and
config errors; each test injects the fault and checks the documented outcome.
"""
import glob
import io
import json
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .conftest import REPO_ROOT, SMALL_CONFIG, config_with_options

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
EXTRACT = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_backbone.py')


# --------------------------------------------------------------------------
# Checkpoints as untrusted input
# --------------------------------------------------------------------------
class _WritesAMarker:
    """A pickle payload that would create a file if unpickling ran code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _malicious_checkpoint(path: str, marker: str) -> str:
    state = {'backbone.conv1.weight': torch.zeros(2, 3, 1, 1)}
    torch.save({'state_dict': state, 'meta': {'note': _WritesAMarker(marker)}}, path)
    return path


def test_checkpoint_with_code_is_refused_by_every_loader(tmp_path, subprocess_env):
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmssl_ext.models.utils.pretrained_init import PretrainedBackboneInit
    from mmssl_ext.utils.checkpoint_io import CheckpointRefusedError, load_checkpoint_file
    marker = str(tmp_path / 'code_ran')
    ckpt = _malicious_checkpoint(str(tmp_path / 'evil.pth'), marker)
    loaders = {
        'load_checkpoint_file': lambda: load_checkpoint_file(ckpt),
        # what Runner.resume / load_from and init_cfg=Pretrained go through
        'mmengine': lambda: _load_checkpoint(ckpt, map_location='cpu'),
        'PretrainedBackbone': lambda: PretrainedBackboneInit(ckpt)(torch.nn.Conv2d(3, 2, 1)),
    }
    for name, load in loaders.items():
        with pytest.raises(CheckpointRefusedError) as err:
            load()
        message = str(err.value)
        assert 'evil.pth' in message and 'io.open' in message, (name, message)
        assert 'weights_only=False' in message  # how to proceed if the file is trusted
    proc = subprocess.run([sys.executable, EXTRACT, ckpt, str(tmp_path / 'out.pth')],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'refusing to load checkpoint' in proc.stderr
    assert not osp.exists(marker), 'unpickling ran code from the checkpoint'
    assert not osp.exists(tmp_path / 'out.pth')


def test_truncated_and_empty_checkpoints_get_a_clear_error(tmp_path):
    from mmssl_ext.utils.checkpoint_io import CorruptCheckpointError, load_checkpoint_file
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.ones(100)}}, buffer)
    (tmp_path / 'half.pth').write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    (tmp_path / 'empty.pth').write_bytes(b'')
    for name in ('half.pth', 'empty.pth'):
        with pytest.raises(CorruptCheckpointError, match='--resume'):
            load_checkpoint_file(str(tmp_path / name))
    with pytest.raises(FileNotFoundError):
        load_checkpoint_file(str(tmp_path / 'absent.pth'))


def test_extract_backbone_validates_its_input(tmp_path, subprocess_env):
    sys.path.insert(0, osp.dirname(EXTRACT))
    try:
        from extract_backbone import extract
    finally:
        sys.path.pop(0)
    with pytest.raises(ValueError, match='checkpoint dict'):
        extract(torch.zeros(3))
    with pytest.raises(ValueError, match='non-tensors'):
        extract({'state_dict': {'backbone.w': [1, 2]}})
    with pytest.raises(ValueError, match="prefixes are \\['head.'\\]"):
        extract({'state_dict': {'head.w': torch.zeros(1)}})
    torch.save([1, 2, 3], tmp_path / 'list.pth')
    proc = subprocess.run([sys.executable, EXTRACT, str(tmp_path / 'list.pth'),
                           str(tmp_path / 'out.pth')], env=subprocess_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'expected a checkpoint dict' in proc.stderr
    assert 'Traceback' not in proc.stderr


def _small_cfg(work_dir, options, *extra) -> Config:
    return config_with_options(SMALL_CONFIG, list(options) + list(extra), str(work_dir))


def test_checkpoint_of_another_model_is_refused_with_a_key_report(tmp_path, small_run_options):
    cfg = _small_cfg(tmp_path / 'r18', small_run_options, 'train_cfg.max_iters=2')
    Runner.from_cfg(cfg).train()
    ckpt = osp.join(cfg.work_dir, 'iter_2.pth')
    # Another depth (missing and unexpected keys), another queue (shape mismatch).
    for option, expected in (('model.backbone.depth=34', 'missing keys'),
                             ('model.queue_len=128', 'size mismatch')):
        for resume in (False, True):
            other = _small_cfg(tmp_path / f'other{resume}', small_run_options, option)
            other.load_from, other.resume = ckpt, resume
            runner = Runner.from_cfg(other)
            with pytest.raises(RuntimeError) as err:
                runner.load_or_resume()
            message = str(err.value)
            assert 'does not match the model' in message and expected in message, message
            assert "init_cfg=dict(type='Pretrained'" in message
    # The same model loads (resume and load_from).
    same = _small_cfg(tmp_path / 'same', small_run_options)
    same.load_from, same.resume = ckpt, True
    runner = Runner.from_cfg(same)
    runner.load_or_resume()
    assert runner.iter == 2


# --------------------------------------------------------------------------
# Atomic checkpoints
# --------------------------------------------------------------------------
_SLOW_WRITER = r'''
import os, sys, time
sys.path.insert(0, {repo!r})
from mmssl_ext.utils import checkpoint_io
def slow_fsync(fd):  # the data is in the temporary file, not yet renamed
    print('written', flush=True)
    time.sleep(60)
checkpoint_io.os.fsync = slow_fsync
backend = checkpoint_io.AtomicLocalBackend()
backend.put(b'new' * 100000, {target!r})
'''


def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path, subprocess_env):
    target = str(tmp_path / 'iter_4.pth')
    with open(target, 'wb') as f:
        f.write(b'old complete checkpoint')
    proc = subprocess.Popen([sys.executable, '-c',
                             _SLOW_WRITER.format(repo=REPO_ROOT, target=target)],
                            env=subprocess_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'written'
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    with open(target, 'rb') as f:
        assert f.read() == b'old complete checkpoint'
    leftovers = glob.glob(str(tmp_path / '.iter_4.pth.tmp*'))
    assert len(leftovers) == 1  # the killed write, never under the checkpoint's name


def test_resume_picks_the_newest_readable_checkpoint(tmp_path):
    from mmssl_ext.utils.checkpoint_io import find_resumable_checkpoint, write_atomically
    work_dir = str(tmp_path)
    assert find_resumable_checkpoint(work_dir) is None
    for step in (2, 4):
        torch.save({'step': step}, osp.join(work_dir, f'iter_{step}.pth'))
    write_atomically(osp.join(work_dir, 'iter_4.pth').encode(), osp.join(work_dir,
                                                                         'last_checkpoint'))
    assert find_resumable_checkpoint(work_dir).endswith('iter_4.pth')
    # iter_6 half-written by something else, pointer lost: back to iter_4.
    with open(osp.join(work_dir, 'iter_4.pth'), 'rb') as f:
        data = f.read()
    with open(osp.join(work_dir, 'iter_6.pth'), 'wb') as f:
        f.write(data[:len(data) // 2])
    os.remove(osp.join(work_dir, 'last_checkpoint'))
    assert find_resumable_checkpoint(work_dir).endswith('iter_4.pth')
    # An empty pointer (a kill while writing it) is not taken for "no checkpoint".
    open(osp.join(work_dir, 'last_checkpoint'), 'w').close()
    assert find_resumable_checkpoint(work_dir).endswith('iter_4.pth')
