"""tools/train.py and tools/test.py: argument handling and the CPU distributed set-up."""
import argparse
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmssl_ext.utils.cli import merge_train_args
from mmssl_ext.utils.dist import CPU_WRAPPER, prepare_cpu_distributed

from .conftest import REPO_ROOT, SMALL_CONFIG


def _args(**kwargs) -> argparse.Namespace:
    defaults = dict(config=SMALL_CONFIG, work_dir=None, resume=None, amp=False,
                    no_validate=False, auto_scale_lr=False, no_pin_memory=False,
                    no_persistent_workers=False, cfg_options=None, launcher='none')
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def test_work_dir_defaults_to_config_name():
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args())
    assert cfg.work_dir == osp.join('./work_dirs', 'mocov2_r18_1xb32-600i_synthetic')
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(work_dir='/tmp/x'))
    assert cfg.work_dir == '/tmp/x'


def test_resume_and_cfg_options(tmp_path):
    ckpt = tmp_path / 'iter_2.pth'
    ckpt.write_bytes(b'')
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG),
                           _args(resume=str(ckpt), cfg_options={'train_cfg.max_iters': 7}))
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    assert cfg.train_cfg.max_iters == 7
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(resume='auto'))
    assert cfg.resume is True and cfg.load_from is None
    with pytest.raises(SystemExit, match='not found'):
        merge_train_args(Config.fromfile(SMALL_CONFIG), _args(resume=str(tmp_path / 'no.pth')))


def test_persistent_workers_only_with_workers():
    cfg = Config.fromfile(SMALL_CONFIG)
    cfg.train_dataloader.num_workers = 0
    cfg = merge_train_args(cfg, _args())
    assert cfg.train_dataloader.persistent_workers is False
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(no_pin_memory=True))
    assert cfg.train_dataloader.pin_memory is False
    assert cfg.train_dataloader.persistent_workers is True
    # num_workers=0 given on the command line turns persistent workers off too.
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG),
                           _args(cfg_options={'train_dataloader.num_workers': 0}))
    assert cfg.train_dataloader.persistent_workers is False


def test_pinned_batches_are_copied_to_the_device_without_blocking():
    pinned = {'train_dataloader.pin_memory': True}
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(cfg_options=pinned))
    assert cfg.data_preprocessor.non_blocking is True
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(cfg_options=dict(
        pinned, **{'data_preprocessor.non_blocking': False})))  # the config's word stands
    assert cfg.data_preprocessor.non_blocking is False
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(no_pin_memory=True))
    assert 'non_blocking' not in cfg.data_preprocessor  # pageable memory: no gain


def test_amp_on_cpu_is_refused_clearly(monkeypatch):
    import mmssl_ext.utils.cli as train_cfg
    monkeypatch.setattr(train_cfg, '_accelerator_available', lambda: False)
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        merge_train_args(Config.fromfile(SMALL_CONFIG), _args(amp=True))
    monkeypatch.setattr(train_cfg, '_accelerator_available', lambda: True)
    cfg = merge_train_args(Config.fromfile(SMALL_CONFIG), _args(amp=True))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_cpu_distributed_swaps_the_wrapper(monkeypatch):
    import torch.distributed as torch_dist
    monkeypatch.setattr(torch_dist, 'is_initialized', lambda: True)
    cfg = Config.fromfile(SMALL_CONFIG)
    cfg.sync_bn = 'torch'
    assert prepare_cpu_distributed(cfg, 'pytorch') is True
    assert cfg.model_wrapper_cfg == dict(type=CPU_WRAPPER, find_unused_parameters=False,
                                         broadcast_buffers=False)
    assert cfg.sync_bn is None
    cfg = Config.fromfile(SMALL_CONFIG)
    cfg.model_wrapper_cfg = dict(type='MMFullyShardedDataParallel')
    prepare_cpu_distributed(cfg, 'pytorch')
    assert cfg.model_wrapper_cfg == dict(type='MMFullyShardedDataParallel')
    assert prepare_cpu_distributed(Config.fromfile(SMALL_CONFIG), 'none') is False


def test_cpu_wrapper_reverts_syncbn_and_drops_device_ids(monkeypatch):
    import torch
    from torch import nn

    from mmssl_ext.models import CPUDistributedDataParallel
    captured = {}

    def fake_ddp_init(self, module, **kwargs):
        nn.Module.__init__(self)
        captured.update(kwargs, module=module)

    monkeypatch.setattr(torch.nn.parallel.DistributedDataParallel, '__init__', fake_ddp_init)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.SyncBatchNorm(4))
    CPUDistributedDataParallel(model, device_ids=[0], broadcast_buffers=False)
    assert captured['device_ids'] is None
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in captured['module'].modules())


def test_train_py_accepts_both_local_rank_spellings():
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), '-h'],
                         capture_output=True, text=True, check=True).stdout
    assert '--local_rank' in out and '--local-rank' in out
    assert '--gpus' not in out  # mim would add --gpus 1 to a CPU run otherwise
    for launcher in ('none', 'pytorch', 'slurm', 'mpi'):
        assert launcher in out


def test_test_py_explains_pretraining_configs(tmp_path, subprocess_env):
    ckpt = tmp_path / 'c.pth'
    ckpt.write_bytes(b'')
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'),
                           SMALL_CONFIG, str(ckpt)], capture_output=True, text=True,
                          env=subprocess_env)
    assert proc.returncode != 0
    assert 'has no test_dataloader' in proc.stderr


@pytest.mark.slow
def test_device_wheels_install_without_an_index_and_import(tmp_path, subprocess_env):
    """tools/misc/prepare_device_wheels.sh (for this Python, as a rehearsal of a
    3.12 device): pure or manylinux wheels, mmcv without compiled ops, under
    64 MiB; installed with --no-index --no-deps into a folder, the stack
    imports from there and mmssl_ext registers its pretraining modules."""
    wheels, site = tmp_path / 'wheels', tmp_path / 'site'
    version = '%d.%d' % sys.version_info[:2]
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'misc', 'prepare_device_wheels.sh'),
                           str(wheels)], env=dict(subprocess_env, PYTHON=sys.executable,
                                                  TARGET_PYTHON=version),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = sorted(p.name for p in wheels.iterdir())
    assert any(n.startswith('mmcv_lite-2.1.0-') and n.endswith('-none-any.whl') for n in names)
    assert sum(p.stat().st_size for p in wheels.iterdir()) < 64 * 2**20
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index',
                           '--no-deps', '--no-compile', '--target', str(site)]
                          + [str(wheels / n) for n in names],
                          env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    check = ('import importlib.util, mmcv, mmengine, mmpretrain\n'
             f'assert mmengine.__file__.startswith({str(site)!r}), mmengine.__file__\n'
             f'assert mmcv.__file__.startswith({str(site)!r}), mmcv.__file__\n'
             "assert importlib.util.find_spec('mmcv._ext') is None\n"
             'from mmssl_ext import register_all_modules\n'
             'register_all_modules(init_default_scope=False)\n'
             "from mmssl_ext.registry import MODELS\nassert MODELS.get('MaskCo')\nprint('OK')")
    proc = subprocess.run([sys.executable, '-c', check], cwd=str(tmp_path),
                          env=dict(subprocess_env, PYTHONPATH=f'{site}{os.pathsep}{REPO_ROOT}'),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and 'OK' in proc.stdout, proc.stderr[-3000:]
