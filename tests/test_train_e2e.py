"""End-to-end training through the Runner, tools/train.py, mim and torchrun."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .conftest import REPO_ROOT, SMALL_CONFIG, config_with_options, free_port

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')


def _logged_losses(work_dir: str) -> list:
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert logs, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in open(sorted(logs)[-1]) if '"loss"' in line]


def _run(cmd, env, cwd=REPO_ROOT, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-6000:]}'
    return proc.stdout


def _small_cfg(work_dir, options) -> Config:
    """The small config with the same --cfg-options the CLI tests pass."""
    return config_with_options(SMALL_CONFIG, options, work_dir)


def test_runner_trains_and_resume_restores_state(tmp_path, small_run_options):
    cfg = _small_cfg(tmp_path / 'run', small_run_options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = [r['loss'] for r in _logged_losses(cfg.work_dir)]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    ckpt_path = osp.join(cfg.work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt_path) and osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth'))

    # Resume from iteration 2 (the checkpoint is read with weights_only=True).
    saved = torch.load(ckpt_path, map_location='cpu', weights_only=True)
    cfg2 = _small_cfg(tmp_path / 'resumed', small_run_options)
    cfg2.resume, cfg2.load_from = True, ckpt_path
    resumed = Runner.from_cfg(cfg2)
    resumed.load_or_resume()
    assert resumed.iter == 2
    state = resumed.optim_wrapper.state_dict()
    for pid, pstate in saved['optimizer']['state'].items():
        torch.testing.assert_close(state['state'][pid]['momentum_buffer'],
                                   pstate['momentum_buffer'])
    model_state = resumed.model.state_dict()
    torch.testing.assert_close(model_state['queue'], saved['state_dict']['queue'])
    torch.testing.assert_close(model_state['backbone.conv1.weight'],
                               saved['state_dict']['backbone.conv1.weight'])
    resumed.train()
    iters = [r['iter'] for r in _logged_losses(cfg2.work_dir)]
    assert iters == [3, 4], iters


@pytest.mark.slow
def test_train_py_cli_resume(tmp_path, small_run_options, subprocess_env):
    work_dir = str(tmp_path / 'cli')
    opts = ['--cfg-options'] + small_run_options
    _run([sys.executable, TRAIN, SMALL_CONFIG, '--work-dir', work_dir] + opts, subprocess_env)
    out = _run([sys.executable, TRAIN, SMALL_CONFIG, '--work-dir', work_dir, '--resume',
                osp.join(work_dir, 'iter_2.pth'), '--local-rank', '0']
               + opts + ['train_cfg.max_iters=6'], subprocess_env)
    assert 'resumed epoch: 0, iter: 2' in out
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))


@pytest.mark.slow
def test_mim_train_finds_config_by_name(tmp_path, small_run_options, subprocess_env):
    # Run from outside the repo: mim must find the config in the installed package.
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    work_dir = str(tmp_path / 'mim')
    out = _run([mim, 'train', 'mmssl_ext', osp.basename(SMALL_CONFIG), '--work-dir', work_dir,
                '--cfg-options'] + small_run_options, subprocess_env, cwd=str(tmp_path))
    assert 'we find the config file in codebase mmssl_ext' in out
    assert len(_logged_losses(work_dir)) == 4


def _dist_train(work_dir: str, options: list, env: dict, procs: int, **launch_env):
    """tools/dist_train.sh, started (not waited for)."""
    return subprocess.Popen(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), SMALL_CONFIG,
                             str(procs), '--work-dir', work_dir, '--auto-scale-lr',
                             '--cfg-options'] + options, cwd=REPO_ROOT,
                            env=dict(env, **launch_env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-6000:]
    return out


@pytest.mark.slow
def test_dist_train_on_one_node_on_two_nodes_and_with_auto_scaled_lr(
        tmp_path, small_run_options, subprocess_env):
    """2 gloo processes on one node; the same 2 as two nodes of one process
    each (two torchrun launches, NNODES=2, NODE_RANK=0/1, one shared work
    dir): the same losses and learning rates. ``--auto-scale-lr`` scales the
    config's lr (for auto_scale_lr.base_batch_size=256) by the global batch:
    2 processes x 4 images get the lr of 1 process x 8."""
    scaling = 'Scaling the original LR by 0.03125.'  # 8 / 256
    port = free_port
    one_node = str(tmp_path / 'one_node')
    out = _finish(_dist_train(one_node, small_run_options, subprocess_env, 2, PORT=port()))
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    assert "type='mmssl_ext.CPUDistributedDataParallel'" in out
    assert scaling in out
    assert osp.isfile(osp.join(one_node, 'iter_4.pth'))
    expected = [(r['loss'], r['lr']) for r in _logged_losses(one_node)]
    assert len(expected) == 4 and all(torch.isfinite(torch.tensor(expected)).ravel())

    two_nodes, master_port = str(tmp_path / 'two_nodes'), port()
    nodes = [_dist_train(two_nodes, small_run_options, subprocess_env, 1, NNODES='2',
                         NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1', PORT=master_port)
             for rank in (0, 1)]
    outputs = [_finish(node) for node in nodes]
    assert 'GPU number: 2' in outputs[0] and scaling in outputs[0]
    assert [(r['loss'], r['lr']) for r in _logged_losses(two_nodes)] == expected

    one_process = str(tmp_path / 'one_process')
    batch_8 = [o for o in small_run_options if not o.startswith('train_dataloader.batch_size')]
    out = _finish(_dist_train(one_process, batch_8 + ['train_dataloader.batch_size=8'],
                              subprocess_env, 1, PORT=port()))
    assert 'GPU number: 1' in out and scaling in out
    assert [r['lr'] for r in _logged_losses(one_process)] == [lr for _, lr in expected]


@pytest.mark.slow
def test_test_py_evaluates_a_pretrained_checkpoint(tmp_path, small_run_options,
                                                   synthetic_root, subprocess_env):
    work_dir = str(tmp_path / 'pre')
    _run([sys.executable, TRAIN, SMALL_CONFIG, '--work-dir', work_dir, '--cfg-options']
         + small_run_options, subprocess_env)
    out_file = str(tmp_path / 'metrics.json')
    out = _run([sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'),
                osp.join(REPO_ROOT, 'tests', 'data', 'eval_r18_synthetic_labels.py'),
                osp.join(work_dir, 'iter_4.pth'), '--work-dir', str(tmp_path / 'eval'),
                '--out', out_file, '--cfg-options',
                f'test_dataloader.dataset.data_root={synthetic_root}'], subprocess_env)
    # The backbone came from the checkpoint; the linear head did not exist there.
    assert 'missing keys in source state_dict: head.fc.weight, head.fc.bias' in out
    metrics = json.load(open(out_file))
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def test_train_builds_the_flexible_runner_a_config_names(tmp_path, small_run_options):
    """FSDP/DeepSpeed go through mmengine's FlexibleRunner and its strategies;
    tools/train.py builds it when the config says ``runner_type``."""
    from mmengine.runner import FlexibleRunner

    from mmssl_ext.utils.cli import build_runner
    cfg = _small_cfg(tmp_path / 'flex', small_run_options)
    cfg.runner_type = 'FlexibleRunner'
    runner = build_runner(cfg, 'none')
    assert isinstance(runner, FlexibleRunner)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth'))
    losses = [r['loss'] for r in _logged_losses(cfg.work_dir)]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
