"""Fault injection: each guarantee of docs/en/reliability.md, broken on purpose.

Checkpoints as untrusted input, atomic checkpoint writes, exact resume after a
SIGKILL, non-finite steps, bad samples, a dead process in a 2-process run and
config errors; each test injects the fault and checks the documented outcome.
"""
import glob
import io
import json
import math
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .conftest import OUR_SYNTHETIC_CONFIGS, REPO_ROOT, SMALL_CONFIG, config_with_options, free_port

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


# --------------------------------------------------------------------------
# Numerical faults
# --------------------------------------------------------------------------
class _NaNAtIteration:
    """Makes the online backbone's first conv output NaN at one iteration, and
    snapshots the parameters and optimizer state around that iteration."""

    priority = 'LOWEST'

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        self.before = self.after = None
        self.active = False

    def hook(self):
        from mmengine.hooks import Hook
        outer = self

        class FaultHook(Hook):

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                outer.active = runner.iter + 1 == outer.iteration
                if outer.active:
                    outer.before = _snapshot(runner)

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                if outer.active:
                    outer.after = _snapshot(runner)
                outer.active = False

        return FaultHook()

    def install(self, runner) -> None:
        runner.model.backbone.conv1.register_forward_hook(
            lambda module, args, output: output * float('nan') if self.active else output)
        runner.register_hook(self.hook(), priority='LOWEST')


def _snapshot(runner) -> dict:
    # What the optimizer trains, and the buffers; the momentum encoder's EMA step
    # toward the (unchanged) online weights is taken, as documented.
    params = {k: v.detach().clone() for k, v in runner.model.named_parameters()
              if v.requires_grad}
    params.update({k: v.detach().clone() for k, v in runner.model.named_buffers()})
    optimizer = {k: v['momentum_buffer'].clone()
                 for k, v in runner.optim_wrapper.optimizer.state.items()
                 if v.get('momentum_buffer') is not None}
    return dict(params=params, optimizer=optimizer)


def _log_text(work_dir: str) -> str:
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    return open(sorted(logs)[-1]).read()


def test_non_finite_step_is_skipped_and_training_goes_on(tmp_path, small_run_options):
    cfg = _small_cfg(tmp_path / 'skip', small_run_options, 'train_cfg.max_iters=5')
    runner = Runner.from_cfg(cfg)
    fault = _NaNAtIteration(3)
    fault.install(runner)
    runner.train()
    # The faulty step changed no trained parameter, buffer (queue, BN statistics)
    # or momentum buffer.
    for name, value in fault.before['params'].items():
        assert torch.equal(value, fault.after['params'][name]), name
    assert fault.before['optimizer'].keys() == fault.after['optimizer'].keys()
    for key, value in fault.before['optimizer'].items():
        assert torch.equal(value, fault.after['optimizer'][key])
    assert runner.iter == 5
    assert runner.message_hub.get_info('non_finite_skipped_steps') == 1
    log = _log_text(cfg.work_dir)
    assert 'NonFiniteGuard: iteration 3: non-finite loss terms' in log and "'loss'" in log
    assert 'backbone.conv1.weight' in log and 'step skipped (1 of at most 10' in log
    # Every other step trained: the last parameters differ from those of iteration 3.
    final = dict(runner.model.named_parameters())
    assert not torch.equal(final['backbone.conv1.weight'],
                           fault.after['params']['backbone.conv1.weight'])


def test_non_finite_step_past_the_budget_stops_with_a_checkpoint(tmp_path, small_run_options):
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    cfg = _small_cfg(tmp_path / 'stop', small_run_options, 'train_cfg.max_iters=5',
                     'custom_hooks.2.max_skipped=0')
    assert cfg.custom_hooks[2].type == 'NonFiniteGuardHook'
    runner = Runner.from_cfg(cfg)
    fault = _NaNAtIteration(3)
    fault.install(runner)
    with pytest.raises(RuntimeError, match='iteration 3.*stopping .1 skipped steps exceed '
                       'max_skipped=0'):
        runner.train()
    saved = load_checkpoint_file(osp.join(cfg.work_dir, 'nonfinite_iter_3.pth'))
    assert saved['meta']['iter'] == 2  # the weights before the faulty step
    compared = [name for name in fault.before['params'] if name in saved['state_dict']]
    assert 'backbone.conv1.weight' in compared and 'queue' in compared
    for name in compared:
        torch.testing.assert_close(saved['state_dict'][name], fault.before['params'][name],
                                   rtol=0, atol=0)
    with open(osp.join(cfg.work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')  # what --resume continues from


def test_all_finite_matches_an_elementwise_check():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mmssl_ext.engine.hooks.non_finite_guard import all_finite

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 40), st.sampled_from(
        [torch.float32, torch.float16, torch.bfloat16, torch.float64])), min_size=1,
        max_size=5), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 39),
                                        st.sampled_from([float('nan'), float('inf'),
                                                         -float('inf'), 1e30])), max_size=3),
        st.integers(0, 2**31 - 1))
    def check(shapes, faults, seed):
        generator = torch.Generator().manual_seed(seed)
        tensors = [torch.randn(n, generator=generator).to(dtype) * 100 for n, dtype in shapes]
        for which, position, value in faults:
            if which < len(tensors) and position < tensors[which].numel():
                tensors[which][position] = value  # 1e30 is inf in float16
        expected = all(bool(torch.isfinite(t).all()) for t in tensors)
        assert bool(all_finite(tensors)) == expected

    check()


# --------------------------------------------------------------------------
# Interruptions: exact resume
# --------------------------------------------------------------------------
def _scalars(work_dir: str) -> dict:
    """{iteration: loss} of the latest run in ``work_dir``."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    assert logs, f'no scalars.json under {work_dir}'
    return {r['iter']: r['loss'] for r in map(json.loads, open(logs[-1])) if 'loss' in r}


def _deterministic_cfg(path: str, data_root: str, work_dir: str, num_workers: int = 1) -> Config:
    from mmssl_ext.analysis.benchmark import cpu_norms, use_synthetic_scenes
    cfg = Config.fromfile(path)
    use_synthetic_scenes(cfg.train_dataloader.dataset, data_root)
    cpu_norms(cfg.model)
    cfg.train_dataloader.update(batch_size=4, num_workers=num_workers,
                                persistent_workers=num_workers > 0)
    cfg.train_cfg.max_iters = 4
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 2
    cfg.log_processor.window_size = 1  # each iteration's own loss, not a running mean
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.work_dir = work_dir
    return cfg


# One config per family of state a resume must restore: a queue (MaskCo), an
# EMA target (DetCon-B), masked image modelling (ccMIM), a self-distillation
# teacher with multi-crop (DINO). These run with 0 and 2 dataloader workers:
# with 0 the pipeline shares the trainer's generators, which mmengine's replay
# of the trained batches advances (IterationSeedHook seeds each batch's draws).
RESUME_FAMILIES = {'maskco', 'detcon-b', 'ccmim', 'dino'}
RESUME_CASES = [
    (config, workers) for config in OUR_SYNTHETIC_CONFIGS
    for workers in ((0, 2) if osp.basename(config).split('_')[0] in RESUME_FAMILIES else (1,))
]


@pytest.mark.slow
@pytest.mark.parametrize('config,num_workers', RESUME_CASES,
                         ids=lambda v: v.split('/')[1].split('_')[0] if isinstance(v, str)
                         else f'{v}workers')
def test_resumed_run_reproduces_the_uninterrupted_losses(config, num_workers, synthetic_root,
                                                         tmp_path):
    """Model, momentum encoders, queues, optimizer, schedulers, iteration,
    data position and randomness: all of it must come back for the losses
    after the checkpoint to be equal (ccMIM's and DetCon's model-side draws
    differ without IterationSeedHook; with num_workers=0 every method's
    pipeline draws differ without its per-batch data seed)."""
    path = osp.join(REPO_ROOT, 'configs', config)
    full = _deterministic_cfg(path, synthetic_root, str(tmp_path / 'full'), num_workers)
    Runner.from_cfg(full).train()
    resumed = _deterministic_cfg(path, synthetic_root, str(tmp_path / 'resumed'), num_workers)
    resumed.resume, resumed.load_from = True, osp.join(full.work_dir, 'iter_2.pth')
    Runner.from_cfg(resumed).train()
    expected, got = _scalars(full.work_dir), _scalars(resumed.work_dir)
    assert sorted(got) == [3, 4]
    assert got == {i: expected[i] for i in (3, 4)}


# The soak test: one chain of launches per family of state (a queue, an EMA
# target, masked image modelling), each launch SIGKILLed at a point of a seeded
# schedule (tests/soak_victim.py), the next one started with `--resume`.
SOAK_CHAINS = {  # family: (config, dataloader workers)
    'maskco': ('maskco/maskco_r18_1xb32-600i_synthetic.py', 1),
    'detcon-b': ('detcon/detcon-b_r18_1xb32-600i_synthetic.py', 0),
    'ccmim': ('ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py', 0),
}
SOAK_ITERS, SOAK_INTERVAL = 6, 2
# MMSSL_SOAK_SEED=N replays (or explores) another schedule; a failure names its seed.
SOAK_SEED = int(os.environ.get('MMSSL_SOAK_SEED', 0))
VICTIM = osp.join(REPO_ROOT, 'tests', 'soak_victim.py')


def kill_schedule(seed: int, max_iters: int = SOAK_ITERS, interval: int = SOAK_INTERVAL) -> list:
    """Three kill points, one at start-up, one mid-iteration (in the forward
    pass or after the optimizer step), one mid-checkpoint-write, in a seeded
    order; each drawn among the points the launch it kills will reach (a
    launch resumed from iter_K.pth runs iterations K+1..max_iters)."""
    rng = random.Random(seed)
    kinds = ['startup', rng.choice(['forward', 'step']), 'checkpoint']
    rng.shuffle(kinds)
    first, points = 1, []  # first: the first iteration the next launch runs
    for kind in kinds:
        if kind == 'startup':
            points.append(kind)
        elif kind == 'checkpoint':
            at = rng.choice(range(interval * math.ceil(first / interval), max_iters + 1, interval))
            points.append(f'checkpoint:{at}')
            first = at - interval + 1  # the one before is the newest complete checkpoint
        else:
            at = rng.randint(first, max_iters)
            points.append(f'{kind}:{at}')
            first = (at - 1) // interval * interval + 1
    return points


def test_the_kill_schedule_is_reachable_and_covers_each_kind():
    for seed in range(200):
        points = kill_schedule(seed)
        assert sorted(p.split(':')[0].replace('step', 'forward') for p in points) == \
            ['checkpoint', 'forward', 'startup']
        first = 1
        for point in points:
            kind, _, at = point.partition(':')
            if kind == 'startup':
                continue
            at = int(at)
            assert first <= at <= SOAK_ITERS, (seed, points)
            newest = (at - 1 if kind != 'checkpoint' else at - SOAK_INTERVAL)
            first = newest // SOAK_INTERVAL * SOAK_INTERVAL + 1
    assert len({tuple(kill_schedule(seed)) for seed in range(200)}) > 10


def _final_state(work_dir: str) -> dict:
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    checkpoint = load_checkpoint_file(osp.join(work_dir, f'iter_{SOAK_ITERS}.pth'), 'cpu')
    state = {f'model.{k}': v for k, v in checkpoint['state_dict'].items()}
    for index, param_state in checkpoint['optimizer']['state'].items():
        state.update({f'optimizer.{index}.{k}': v for k, v in param_state.items()})
    return state


def _soak(family: str, seed: int, root: str, base: str, env: dict) -> str:
    """Run one chain; '' when its final weights equal the uninterrupted run's,
    else what went wrong."""
    config, workers = SOAK_CHAINS[family]
    cfg = _deterministic_cfg(osp.join(REPO_ROOT, 'configs', config), root,
                             osp.join(base, 'unused'), workers)
    cfg.train_cfg.max_iters = SOAK_ITERS
    cfg.default_hooks.checkpoint.interval = SOAK_INTERVAL
    os.makedirs(base, exist_ok=True)
    config_file = osp.join(base, f'soak_{family}.py')
    cfg.dump(config_file)
    full_dir, soak_dir = osp.join(base, 'full'), osp.join(base, 'soaked')
    log = osp.join(base, 'kills.log')
    schedule = kill_schedule(seed)
    story = f'{family}, seed {seed}, schedule {schedule}'

    def launch(script, work_dir, point='', resume=False):
        command = [sys.executable, script, config_file, '--work-dir', work_dir]
        proc = subprocess.Popen(command + (['--resume'] if resume else []),
                                env=dict(env, MMSSL_KILL_AT=point, MMSSL_KILL_LOG=log),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=300)
        finally:
            try:  # a killed trainer's dataloader workers
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return proc.returncode, err[-2000:]

    code, err = launch(TRAIN, full_dir)
    if code != 0:
        return f'{story}: the uninterrupted run failed ({code}):\n{err}'
    for number, point in enumerate(schedule):
        code, err = launch(VICTIM, soak_dir, point, resume=number > 0)
        killed = open(log).read().split() if osp.exists(log) else []
        if code != -signal.SIGKILL or killed[-1:] != [point] or len(killed) != number + 1:
            return f'{story}: launch {number} ended with {code}, not killed at {point}:\n{err}'
    code, err = launch(TRAIN, soak_dir, resume=True)
    if code != 0:
        return f'{story}: the final resumed launch failed ({code}):\n{err}'
    expected, got = _final_state(full_dir), _final_state(soak_dir)
    differ = sorted(k for k in expected if k not in got or not torch.equal(expected[k], got[k]))
    if differ or sorted(got) != sorted(expected):
        return f'{story}: final state differs in {len(differ)} tensors, e.g. {differ[:5]}'
    return ''


@pytest.mark.slow
def test_a_soaked_run_ends_bit_identical_to_an_uninterrupted_one(synthetic_root, tmp_path,
                                                                 subprocess_env):
    """tools/train.py SIGKILLed three times per chain (at start-up, mid-iteration,
    between a checkpoint's write and its rename) and resumed with `--resume`
    each time: the final weights and optimizer state equal the uninterrupted
    run's, bit for bit. The three chains run side by side, one thread each."""
    from concurrent.futures import ThreadPoolExecutor
    env = dict(subprocess_env, OMP_NUM_THREADS='1')
    with ThreadPoolExecutor(len(SOAK_CHAINS)) as pool:
        failures = list(pool.map(
            lambda item: _soak(item[1], SOAK_SEED + item[0], synthetic_root,
                               str(tmp_path / item[1]), env), enumerate(SOAK_CHAINS)))
    failures = [f for f in failures if f]
    assert not failures, '\n\n'.join(failures) + '\n(MMSSL_SOAK_SEED=N pytest ... reruns)'


# --------------------------------------------------------------------------
# Bad data
# --------------------------------------------------------------------------
# Each case and its documented outcome (docs/en/reliability.md): 'skip' (a
# warning naming the file, counted against max_skipped_samples) or 'ok' (a
# sample of the same shapes as a good image's).
BAD_IMAGE_CASES = {
    'corrupt.jpg': 'skip', 'truncated.jpg': 'skip', 'truncated.png': 'skip',
    'empty.jpg': 'skip', 'huge.png': 'skip',  # header claims 60000 x 60000 pixels
    'gray.png': 'ok', 'cmyk.jpg': 'ok', 'deep.png': 'ok', 'large.jpg': 'ok',
    'tiny.png': 'ok', 'small.png': 'ok', 'thin.png': 'ok',
}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))


def _write_bad_images(img_dir: str, scene) -> None:
    import struct
    import zlib

    import cv2
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)

    def write(name, data):
        with open(osp.join(img_dir, name), 'wb') as f:
            f.write(data)

    write('corrupt.jpg', rng.bytes(3000))
    jpg = cv2.imencode('.jpg', cv2.resize(scene, (96, 96)))[1].tobytes()
    write('truncated.jpg', jpg[:len(jpg) // 2])
    png = cv2.imencode('.png', cv2.resize(scene, (96, 96)))[1].tobytes()
    write('truncated.png', png[:len(png) // 2])
    write('empty.jpg', b'')
    header = struct.pack('>IIBBBBB', 60000, 60000, 8, 2, 0, 0, 0)
    write('huge.png', b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header)
          + _png_chunk(b'IDAT', zlib.compress(b'\x00' * 1000)) + _png_chunk(b'IEND', b''))
    cv2.imwrite(osp.join(img_dir, 'gray.png'),
                cv2.cvtColor(cv2.resize(scene, (80, 80)), cv2.COLOR_BGR2GRAY))
    Image.fromarray(cv2.resize(scene, (80, 80))[..., ::-1]).convert('CMYK').save(
        osp.join(img_dir, 'cmyk.jpg'))
    cv2.imwrite(osp.join(img_dir, 'deep.png'),
                cv2.resize(scene, (80, 80)).astype(np.uint16) * 257)
    cv2.imwrite(osp.join(img_dir, 'large.jpg'), cv2.resize(scene, (1600, 1200)))
    cv2.imwrite(osp.join(img_dir, 'tiny.png'), cv2.resize(scene, (1, 1)))
    cv2.imwrite(osp.join(img_dir, 'small.png'), cv2.resize(scene, (12, 9)))
    cv2.imwrite(osp.join(img_dir, 'thin.png'), cv2.resize(scene, (200, 3)))


@pytest.fixture(scope='module')
def bad_data_root(synthetic_root, tmp_path_factory) -> str:
    """COCO-format root: 4 good synthetic scenes, then every bad case."""
    import shutil

    import cv2
    root = str(tmp_path_factory.mktemp('bad_data'))
    img_dir = osp.join(root, 'images', 'train')
    os.makedirs(img_dir)
    os.makedirs(osp.join(root, 'annotations'))
    source = osp.join(synthetic_root, 'images', 'train')
    goods = sorted(os.listdir(source))[:4]
    for name in goods:
        shutil.copy(osp.join(source, name), img_dir)
    _write_bad_images(img_dir, cv2.imread(osp.join(source, goods[0])))
    names = goods + list(BAD_IMAGE_CASES)
    with open(osp.join(root, 'annotations', 'instances_train.json'), 'w') as f:
        json.dump(dict(images=[dict(id=i, file_name=n) for i, n in enumerate(names)],
                       annotations=[], categories=[]), f)
    return root


def _dataset(config: str, data_root: str, **overrides):
    import copy

    from mmengine.registry import init_default_scope

    from mmssl_ext.analysis.benchmark import use_synthetic_scenes
    from mmssl_ext.registry import DATASETS
    init_default_scope('mmssl_ext')
    dataset_cfg = copy.deepcopy(Config.fromfile(
        osp.join(REPO_ROOT, 'configs', config)).train_dataloader.dataset)
    use_synthetic_scenes(dataset_cfg, data_root)
    dataset_cfg.update(overrides)
    return DATASETS.build(dataset_cfg)


def _shapes(sample) -> list:
    inputs = sample['inputs']
    return [tuple(t.shape) for t in (inputs if isinstance(inputs, list) else [inputs])]


@pytest.mark.parametrize('config', OUR_SYNTHETIC_CONFIGS, ids=lambda c: c.split('/')[0])
def test_each_bad_image_is_skipped_or_loaded_as_documented(config, bad_data_root):
    import logging

    from mmengine.logging import MMLogger
    dataset = _dataset(config, bad_data_root)
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    names = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    good_shapes = _shapes(dataset.prepare_data(0))
    outcomes = {}
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    for index, name in enumerate(names):
        if name in BAD_IMAGE_CASES:
            sample = dataset.prepare_data(index)
            outcomes[name] = 'skip' if sample is None else 'ok'
            if sample is not None:
                assert _shapes(sample) == good_shapes, name
    assert outcomes == BAD_IMAGE_CASES
    skipped = [name for name, outcome in BAD_IMAGE_CASES.items() if outcome == 'skip']
    assert [osp.basename(s.split(' (')[0]) for s in dataset.skipped_samples] == skipped
    logger.removeHandler(handler)
    logged = '\n'.join(records)
    for count, name in enumerate(skipped, 1):
        assert f'skipping bad sample {osp.join(bad_data_root, "images", "train", name)}' \
            in logged and f'({count} skipped in this data-loading process; the job stops past 100' \
            in logged
    # Through __getitem__ (what the dataloader calls), a bad index yields another sample.
    sample = dataset[names.index('corrupt.jpg')]
    assert _shapes(sample) == good_shapes


def test_skip_budget_stops_the_run_naming_the_files(bad_data_root):
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from mmssl_ext.datasets import BadSampleBudgetExceeded
    config = OUR_SYNTHETIC_CONFIGS[0]
    dataset = _dataset(config, bad_data_root, max_skipped_samples=2)
    bad = [i for i in range(len(dataset))
           if BAD_IMAGE_CASES.get(osp.basename(dataset.get_data_info(i)['img_path'])) == 'skip']
    for index in bad[:2]:
        assert dataset.prepare_data(index) is None
    with pytest.raises(BadSampleBudgetExceeded) as err:
        dataset.prepare_data(bad[2])
    message = str(err.value)
    assert '3 samples failed' in message and 'max_skipped_samples=2' in message
    assert 'corrupt.jpg' in message and 'truncated.png' in message
    assert 'train_dataloader.dataset.max_skipped_samples' in message
    # In a dataloader worker, the error reaches the training process.
    dataset = _dataset(config, bad_data_root, max_skipped_samples=1)
    loader = DataLoader(torch.utils.data.Subset(dataset, bad), batch_size=1, num_workers=1,
                        collate_fn=pseudo_collate)
    with pytest.raises(BadSampleBudgetExceeded, match='2 samples failed'):
        for _ in loader:
            pass
    # None: no budget, the pipeline's own error; test mode never skips.
    strict = _dataset(config, bad_data_root, max_skipped_samples=None)
    with pytest.raises(AssertionError, match='failed to load image'):
        strict.prepare_data(bad[0])


def test_image_folder_and_list_datasets_skip_too(bad_data_root, tmp_path):
    from mmssl_ext.datasets import ImageFolderDataset, ImageListDataset
    img_dir = osp.join(bad_data_root, 'images', 'train')
    pipeline = [dict(type='LoadImageFromFile')]
    listing = tmp_path / 'list.txt'
    listing.write_text('gray.png\tcaption\ncorrupt.jpg\tcaption\n')
    for dataset in (ImageFolderDataset(data_root=img_dir, with_label=False, pipeline=pipeline),
                    ImageListDataset(str(listing), data_prefix=dict(img_path=img_dir + '/'),
                                     pipeline=pipeline)):
        names = [osp.basename(dataset.get_data_info(i)['img_path'])
                 for i in range(len(dataset))]
        assert dataset.prepare_data(names.index('gray.png'))['img'].shape[2] == 3
        assert dataset.prepare_data(names.index('corrupt.jpg')) is None
        assert 'corrupt.jpg' in dataset.skipped_samples[0]


def test_a_pipeline_that_fails_everywhere_says_so(bad_data_root):
    from mmssl_ext.datasets import BadSampleBudgetExceeded
    dataset = _dataset(OUR_SYNTHETIC_CONFIGS[0], bad_data_root, max_skipped_samples=1,
                       data_prefix=dict(img_path='no_such_folder/'))
    with pytest.raises(BadSampleBudgetExceeded, match='No sample has loaded'):
        for index in range(3):
            dataset.prepare_data(index)


def test_bad_masks_are_skipped_and_one_segment_masks_train(synthetic_root, tmp_path):
    """Precomputed FH masks (online=False): missing and wrong-size masks skip
    the image with the fix named; a single-segment mask is a valid sample."""
    import cv2
    import numpy as np

    from mmssl_ext.datasets.transforms.detcon import FH_PARAMS_FILE, fh_mask_path
    mask_dir, img_dir = str(tmp_path / 'masks'), osp.join(synthetic_root, 'images', 'train')
    os.makedirs(mask_dir)
    with open(osp.join(mask_dir, FH_PARAMS_FILE), 'w') as f:
        json.dump(dict(scales=[200]), f)
    config = 'detcon/detcon-s_r18_1xb32-600i_synthetic.py'
    dataset = _dataset(config, synthetic_root)
    for step in dataset.pipeline.transforms:
        if type(step).__name__ == 'LoadFHMasks':
            step.mask_dir, step.online = mask_dir, False
    paths = [dataset.get_data_info(i)['img_path'] for i in range(3)]
    height, width = cv2.imread(paths[0]).shape[:2]
    for path, ids in ((paths[0], np.zeros((height, width), np.uint16)),  # one segment
                      (paths[1], np.zeros((height // 2, width), np.uint16))):  # wrong size
        target = fh_mask_path(mask_dir, img_dir, path, 200)
        os.makedirs(osp.dirname(target), exist_ok=True)
        cv2.imwrite(target, ids)
    assert dataset.prepare_data(0) is not None
    assert dataset.prepare_data(1) is None and dataset.prepare_data(2) is None
    wrong_size, missing = dataset.skipped_samples
    assert 'masks must be made at full resolution' in wrong_size
    assert 'no FH mask' in missing and 'generate_fh_masks.py' in missing


# One budget per job: BadSampleBudgetHook adds up the skips of every worker of
# every rank and keeps the total through resume. The counts are checked
# against the workers' own warnings, one per skip, in the run's log files.
def _budget_cfg(data_root: str, work_dir: str, max_skipped: int, epochs: int = 1,
                num_workers: int = 2) -> Config:
    """MaskCo on ``data_root`` for whole epochs (every batch a worker loads is
    trained, so every skip reaches the hook), a checkpoint per epoch."""
    cfg = _deterministic_cfg(MASKCO_SYNTHETIC, data_root, work_dir, num_workers)
    cfg.train_dataloader.dataset.max_skipped_samples = max_skipped
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=True)
    return cfg


def _skip_warnings(work_dir: str) -> int:
    """Skips the data-loading processes reported in ``work_dir``'s log files."""
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert logs, f'no log under {work_dir}'
    return sum(open(log).read().count('skipping bad sample ') for log in logs)


@pytest.mark.slow
def test_the_skip_budget_is_one_for_all_workers_and_survives_resume(bad_data_root, tmp_path):
    from mmssl_ext.datasets import BadSampleBudgetExceeded
    from mmssl_ext.engine.hooks.bad_sample_budget import SKIPPED_COUNT_KEY
    skipping = {name for name, outcome in BAD_IMAGE_CASES.items() if outcome == 'skip'}

    first = Runner.from_cfg(_budget_cfg(bad_data_root, str(tmp_path / 'first'), 100))
    first.train()
    counted = first.message_hub.get_info(SKIPPED_COUNT_KEY)
    assert counted == _skip_warnings(str(tmp_path / 'first'))
    assert counted >= len(skipping)  # each bad file once per epoch, and whatever retries hit
    recent = first.message_hub.get_info('skipped_samples_recent')
    assert {osp.basename(entry.split(' (')[0]) for entry in recent} <= skipping

    # Resumed for a second epoch: the total goes on from the checkpoint's.
    cfg = _budget_cfg(bad_data_root, str(tmp_path / 'second'), 100, epochs=2)
    cfg.resume, cfg.load_from = True, osp.join(str(tmp_path / 'first'), 'epoch_1.pth')
    second = Runner.from_cfg(cfg)
    second.train()
    later = _skip_warnings(str(tmp_path / 'second'))
    assert later >= len(skipping)
    assert second.message_hub.get_info(SKIPPED_COUNT_KEY) == counted + later

    # One below what the two workers skipped together (each alone skipped less):
    # the job stops before training on the batch that passes the budget.
    cfg = _budget_cfg(bad_data_root, str(tmp_path / 'over'), counted - 1)
    with pytest.raises(BadSampleBudgetExceeded) as err:
        Runner.from_cfg(cfg).train()
    message = str(err.value)
    assert (f'{counted} samples failed in this job (all ranks and dataloader workers, '
            f'resumes included), more than max_skipped_samples={counted - 1}') in message
    assert 'train_dataloader.dataset.max_skipped_samples' in message
    assert not glob.glob(osp.join(str(tmp_path / 'over'), 'epoch_*.pth'))


@pytest.mark.slow
def test_the_skip_budget_adds_up_the_ranks(bad_data_root, tmp_path, subprocess_env):
    """2 gloo processes with 2 dataloader workers each: every rank holds the
    job's total, the sum of the four data-loading processes' skips."""
    work_dir = str(tmp_path / 'dist')
    cfg = _budget_cfg(bad_data_root, work_dir, 100)
    cfg.log_level = 'DEBUG'  # a log file per rank, so rank 1's workers' warnings are kept
    cfg.dump(str(tmp_path / 'budget.py'))
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), str(tmp_path / 'budget.py'),
         '2', '--work-dir', work_dir],
        cwd=REPO_ROOT, env=dict(subprocess_env, PORT=free_port()),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    warned = _skip_warnings(work_dir)
    assert warned >= len([o for o in BAD_IMAGE_CASES.values() if o == 'skip'])
    rank0_log = [log for log in glob.glob(osp.join(work_dir, '*', '*.log'))
                 if 'rank' not in osp.basename(log) or 'rank0' in osp.basename(log)]
    totals = [int(line.split(' samples skipped in this job')[0].split()[-1])
              for log in rank0_log for line in open(log)
              if ' samples skipped in this job so far' in line]
    assert totals and totals[-1] == warned, (totals, warned)


def test_coco_files_without_annotations(bad_data_root, tmp_path):
    """An image-info file (images, no annotations) trains every method; the
    ground-truth-mask variant needs annotations and says so at build time."""
    from mmssl_ext.datasets import COCOImageDataset
    no_key = tmp_path / 'image_info.json'
    no_key.write_text(json.dumps(dict(images=[dict(id=0, file_name='gray.png')])))
    img_dir = osp.join(bad_data_root, 'images', 'train') + '/'
    assert len(COCOImageDataset(str(no_key), data_prefix=dict(img_path=img_dir))) == 1
    with pytest.raises(ValueError, match='has no "annotations": with_instances needs'):
        COCOImageDataset(str(no_key), data_prefix=dict(img_path=img_dir), with_instances=True)
    # Annotations present but none for these images: one background segment each.
    dataset = _dataset('detcon/detcon-s_r50-gtmask_16xb256-coslr-1296e_coco.py', bad_data_root,
                       with_instances=True)
    sample = dataset.prepare_data(0)
    assert sample is not None and not dataset.skipped_samples


# --------------------------------------------------------------------------
# Distributed faults
# --------------------------------------------------------------------------
def _pids_with(env_entry: bytes, cmdline_part: bytes) -> list:
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/environ', 'rb') as f:
                environ = f.read().split(b'\0')
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if env_entry in environ and cmdline_part in cmdline and b'train.py' in cmdline:
            pids.append(int(entry))
    return pids


class _TwoProcessRun:
    """``tools/dist_train.sh SMALL_CONFIG 2`` (gloo) running until told otherwise:
    started, waited for until both processes train, and cleaned up (torchrun
    starts its workers in their own sessions, so they are killed by pid)."""

    def __init__(self, tmp_path, small_run_options, env, *extra) -> None:
        self.work_dir = str(tmp_path / 'dist')
        options = [o for o in small_run_options
                   if not o.startswith(('train_cfg.max_iters', 'default_hooks.checkpoint'))]
        self.console = open(tmp_path / 'console.txt', 'w+')  # a full pipe would block
        self.job = subprocess.Popen(
            ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), SMALL_CONFIG, '2',
             '--work-dir', self.work_dir, '--cfg-options'] + options
            + ['train_cfg.max_iters=100000'] + list(extra),
            cwd=REPO_ROOT, env=dict(env, PORT=free_port()),
            stdout=self.console, stderr=subprocess.STDOUT, start_new_session=True)
        self.output = ''

    def rank_pids(self, rank: int) -> list:
        return _pids_with(f'RANK={rank}'.encode(), self.work_dir.encode())

    def wait_until_training(self) -> None:
        import re
        deadline = time.time() + 300
        while True:
            logs = glob.glob(osp.join(self.work_dir, '*', '*.log'))
            if logs and re.search(r'Iter\(train\) \[ *2/', open(logs[0]).read()):
                return
            assert self.job.poll() is None and time.time() < deadline, 'the run did not start'
            time.sleep(0.2)

    def signal_rank_1(self, signum: int) -> float:
        """Once both train, send ``signum`` to rank 1; seconds until the job ended."""
        self.wait_until_training()
        victims = self.rank_pids(1)
        assert len(victims) == 1, victims
        sent_at = time.time()
        os.kill(victims[0], signum)
        self.job.wait(timeout=240)
        return time.time() - sent_at

    def __enter__(self) -> '_TwoProcessRun':
        return self

    def __exit__(self, *exc) -> None:
        if self.job.poll() is None:
            os.killpg(self.job.pid, signal.SIGKILL)
        for pid in self.rank_pids(0) + self.rank_pids(1):
            os.kill(pid, signal.SIGKILL)
        self.console.seek(0)
        self.output = self.console.read()
        self.console.close()


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir('/proc'), reason='finds the rank-1 process through /proc')
@pytest.mark.parametrize('gpu', [True, False], ids=['init_dist', 'gloo'])
def test_the_collective_timeout_reaches_init_process_group(gpu, monkeypatch):
    """Every pretraining and downstream benchmark config sets
    env_cfg.dist_cfg.timeout=1800 (torch's NCCL default is 600 s), and it
    reaches torch's init_process_group as a timedelta: through mmengine's
    init_dist (the GPU path, CUDA calls stubbed) and through our gloo path."""
    import datetime

    from mmengine.dist import init_dist

    from mmssl_ext.analysis.benchmark import pretraining_configs
    from mmssl_ext.utils.dist import prepare_cpu_distributed
    benchmarks = glob.glob(osp.join(REPO_ROOT, 'configs', 'benchmarks', '*', '*.py'))
    assert len(benchmarks) > 15
    for path in pretraining_configs(osp.join(REPO_ROOT, 'configs')) + benchmarks:
        timeout = Config.fromfile(path).env_cfg.dist_cfg.get('timeout')
        assert timeout == 1800, (path, timeout)
    cfg = Config.fromfile(SMALL_CONFIG)
    seen = {}
    monkeypatch.setattr(torch.distributed, 'init_process_group',
                        lambda backend=None, **kwargs: seen.update(kwargs, backend=backend))
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: False)
    for name, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT='29500').items():
        monkeypatch.setenv(name, value)
    if gpu:
        monkeypatch.setattr(torch.cuda, 'set_device', lambda device: None)
        init_dist('pytorch', **cfg.env_cfg.dist_cfg)
        assert seen['backend'] == 'nccl'
    else:
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
        assert prepare_cpu_distributed(cfg, 'pytorch')
        assert seen['backend'] == 'gloo'
    assert seen['timeout'] == datetime.timedelta(seconds=1800)


def test_a_killed_process_ends_a_two_process_run_promptly(tmp_path, small_run_options,
                                                          subprocess_env):
    with _TwoProcessRun(tmp_path, small_run_options, subprocess_env) as run:
        took = run.signal_rank_1(signal.SIGKILL)
        survivors = run.rank_pids(0)
    assert run.job.returncode != 0
    assert took < 60, f'the job took {took:.0f}s to end after rank 1 died'
    assert 'Signal 9 (SIGKILL) received by PID' in run.output and 'rank      : 1' in run.output, \
        run.output[-3000:]
    assert not survivors, f'rank 0 outlived the job: {survivors}'


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir('/proc'), reason='finds the rank-1 process through /proc')
def test_a_hung_process_ends_a_two_process_run_after_the_configured_timeout(
        tmp_path, small_run_options, subprocess_env):
    """Rank 1 stopped (SIGSTOP: alive, silent): rank 0's collective times out after
    env_cfg.dist_cfg.timeout seconds, and the launcher ends the job."""
    import re
    with _TwoProcessRun(tmp_path, small_run_options, subprocess_env,
                        'env_cfg.dist_cfg.timeout=10') as run:
        took = run.signal_rank_1(signal.SIGSTOP)
    assert run.job.returncode != 0
    assert 10 <= took < 120, f'the job ended {took:.0f}s after rank 1 stopped'
    assert re.search(r'[Tt]imed? ?out', run.output), run.output[-3000:]


# --------------------------------------------------------------------------
# Config errors
# --------------------------------------------------------------------------
MASKCO_SYNTHETIC = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')


def _config_error(path: str, options: list, world_size: int = 1) -> str:
    from mmssl_ext.utils.config_check import ConfigError, check_config
    cfg = config_with_options(path, options)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, world_size=world_size)
    return str(err.value)


@pytest.mark.parametrize('option, expected', [
    ('model.queue_lenght=4096', "model.queue_lenght: MaskCo has no argument 'queue_lenght'; "
     "did you mean 'queue_len'?"),
    ('model.neck.in_chanels=512', "model.neck.in_chanels: MaskPredictionNeck has no argument "
     "'in_chanels'; did you mean 'in_channels'?"),
    ('train_dataloader.dataset.max_skiped_samples=5', "train_dataloader.dataset."
     "max_skiped_samples: COCOImageDataset has no argument 'max_skiped_samples'; did you mean "
     "'max_skipped_samples'?"),
    ('custom_hooks.2.max_skiped=3', "custom_hooks.2.max_skiped: NonFiniteGuardHook has no "
     "argument 'max_skiped'; did you mean 'max_skipped'?"),
    ('train_dataloader.dataset.pipeline.1.num_box=3', "train_dataloader.dataset.pipeline.1."
     "num_box: MaskCoViews has no argument 'num_box'; did you mean 'num_boxes'?"),
    # An argument of an older release: where it went.
    ('model.temperature=0.3', "model.temperature: MaskCo has no argument 'temperature'; it "
     "became loss=dict(type='QueueInfoNCELoss', temperature=...)."),
])
def test_unknown_keys_of_our_modules_are_named_with_the_fix(option, expected):
    message = _config_error(MASKCO_SYNTHETIC, [option])
    assert expected in message and '--cfg-options' in message


def test_impossible_combinations_fail_before_building():
    # Boxes larger than the view (the transform's own check, placed in the pipeline).
    message = _config_error(MASKCO_SYNTHETIC, [
        'train_dataloader.dataset.pipeline.1.box_side=[100,300]'])
    assert 'train_dataloader.dataset.pipeline.1 (MaskCoViews)' in message
    assert 'must fit in a 64 px view' in message
    # A queue that the global batch does not divide: names both keys and a fix.
    message = _config_error(MASKCO_SYNTHETIC, ['model.queue_len=4096',
                                               'train_dataloader.batch_size=24'], world_size=2)
    assert ('model.queue_len=4096 is not a multiple of the global batch 48 '
            '(train_dataloader.batch_size=24 x 2 processes)') in message
    assert 'Set model.queue_len=4080' in message
    # An epoch-based loader whose last batch would be short.
    message = _config_error(MASKCO_SYNTHETIC, [
        'train_dataloader.sampler.type=DefaultSampler', 'train_dataloader.drop_last=False'])
    assert 'Set train_dataloader.drop_last=True' in message
    # More masked patches than there are (ccMIM): refused when the model is built.
    from mmengine.registry import init_default_scope

    from mmssl_ext.registry import MODELS
    init_default_scope('mmssl_ext')
    ccmim = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                     'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'))
    for ratio in (1.0, 0.999):
        ccmim.model.backbone.mask_ratio = ratio
        with pytest.raises(ValueError, match=f'model.backbone.mask_ratio={ratio} leaves 0 of '
                           'the 64 patches visible.*Set a mask_ratio in'):
            MODELS.build(ccmim.model)


def test_train_py_reports_config_errors_without_a_traceback(subprocess_env, synthetic_root):
    proc = subprocess.run([sys.executable, TRAIN, MASKCO_SYNTHETIC, '--cfg-options',
                           'model.queue_lenght=4096', 'model.queue_len=100'],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert '2 config error(s)' in proc.stderr and "did you mean 'queue_len'" in proc.stderr
    assert 'model.queue_len=100 is not a multiple of the global batch 32' in proc.stderr


def test_every_shipped_config_passes_the_checks_with_the_processes_its_name_gives():
    """At the world size in the name (``16xb256`` -> 16 processes): the
    DetCon COCO recipes once lacked ``drop_last`` and would have failed in
    the all-gather at the end of the first epoch on 16 GPUs."""
    from mmssl_ext.utils.config_check import check_config
    paths = [p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
             if '_base_' not in p]
    checked = 0
    for path in paths:
        cfg = Config.fromfile(path)
        if 'model' in cfg:
            gpus = re.search(r'_(\d+)xb\d+', osp.basename(path))
            check_config(cfg, world_size=int(gpus.group(1)) if gpus else 8)
            checked += 1
    assert checked > 40


@pytest.mark.parametrize('config', [
    'detcon/detcon-b_r18_1xb32-600i_synthetic.py',
    'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py', 'dino/dino_r18_1xb32-600i_synthetic.py'])
def test_a_short_last_batch_is_refused_for_models_that_gather_across_processes(config):
    path = osp.join(REPO_ROOT, 'configs', config)
    options = ['train_dataloader.sampler.type=DefaultSampler', 'train_dataloader.drop_last=False']
    message = _config_error(path, options, world_size=2)
    assert 'and 2 processes' in message and 'Set train_dataloader.drop_last=True' in message
    assert 'across processes' in message  # the model's reason
    from mmssl_ext.utils.config_check import check_config
    check_config(config_with_options(path, options), world_size=1)  # one process: harmless
    check_config(config_with_options(path, options[:1] + ['train_dataloader.drop_last=True']),
                 world_size=2)


@pytest.mark.parametrize('config, default', [
    ('maskco/maskco_r18_1xb32-600i_synthetic.py', 65536),
    ('looc/looc_r18_1xb32-600i_synthetic.py', 16384)])
def test_a_queue_left_at_its_default_length_is_checked_too(config, default):
    """A config that relies on the class's queue_len gets the queue's checks
    (the short last batch would not fill the queue in whole batches)."""
    from mmssl_ext.utils.config_check import ConfigError, check_config
    cfg = config_with_options(osp.join(REPO_ROOT, 'configs', config), [
        'train_dataloader.sampler.type=DefaultSampler', 'train_dataloader.drop_last=False'])
    cfg.model.pop('queue_len')
    with pytest.raises(ConfigError, match=rf'could not fill the model.queue_len={default} queue'):
        check_config(cfg, world_size=2)


class _GuardedSteps:
    """Training steps of ``model`` as the Runner takes them under a
    ``NonFiniteGuardHook``, with the data preprocessor's images turned to NaN
    on the steps asked for (what a corrupt batch or a diverged forward does)."""

    def __init__(self, model, optim_wrapper, batch, hub, **guard_options):
        from types import SimpleNamespace

        from mmssl_ext.engine.hooks import NonFiniteGuardHook
        self.model, self.optim_wrapper, self.batch = model, optim_wrapper, batch
        self.runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper, iter=0,
                                      work_dir='.', message_hub=hub)
        self.guard = NonFiniteGuardHook(**guard_options)
        self.guard.before_train(self.runner)
        self.poison = False
        model.data_preprocessor.register_forward_hook(self._poison_inputs)

    @staticmethod
    def _to_nan(data):
        if isinstance(data, torch.Tensor) and data.is_floating_point():
            return data * float('nan')
        if isinstance(data, (list, tuple)):
            return type(data)(_GuardedSteps._to_nan(d) for d in data)
        return data

    def _poison_inputs(self, module, args, output):
        return dict(output, inputs=self._to_nan(output['inputs'])) if self.poison else output

    def step(self, nan: bool) -> dict:
        self.poison = nan
        runner = self.runner
        self.guard.before_train_iter(runner, runner.iter)
        outputs = self.model.train_step(dict(self.batch), self.optim_wrapper)
        self.guard.after_train_iter(runner, runner.iter, outputs=outputs)
        runner.iter += 1
        return outputs


@pytest.mark.parametrize('config', OUR_SYNTHETIC_CONFIGS, ids=lambda c: c.split('/')[0])
def test_every_method_skips_a_non_finite_step_cleanly(config, synthetic_root):
    """NaN images (after the data preprocessor) for one step of each method: the
    guard drops the step, its queues, centres and BN statistics come back, and
    the next step's loss is finite."""
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope

    from mmssl_ext.analysis.benchmark import build_for_training, cpu_norms, one_batch
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cpu_norms(cfg.model)
    hub = MessageHub.get_instance(f'guard-{config}')  # a fresh skip count; now current
    hub.update_info('max_iters', 100)  # what CosineEMA teachers read
    batch = one_batch(cfg, synthetic_root, 4)
    model, optim_wrapper = build_for_training(cfg, 'cpu')
    steps = _GuardedSteps(model, optim_wrapper, batch, hub, max_skipped=1)
    step, guard = steps.step, steps.guard

    def state() -> dict:
        trained = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
        trained.update({k: v.detach().clone() for k, v in model.named_buffers()})
        return trained

    def loss(outputs: dict) -> float:
        return float(outputs['loss'].detach())

    assert math.isfinite(loss(step(False)))
    before = state()
    assert not math.isfinite(loss(step(True)))
    assert guard.skipped == 1
    after = state()
    for name, value in before.items():
        assert torch.equal(value, after[name]), name
    assert math.isfinite(loss(step(False)))


def _cpu_amp_wrapper(model, monkeypatch):
    """mmengine's AmpOptimWrapper on the CPU: bf16 autocast, and torch's CPU
    GradScaler in place of the CUDA one (the wrapper refuses a machine
    without a GPU: the check is lifted while it is built)."""
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              dtype='bfloat16')
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0**16)
    return wrapper


class _TinyGuarded:
    """A BN + linear model trained by ``wrapper`` under a ``NonFiniteGuardHook``,
    iteration by iteration as the Runner calls the hook; ``seen`` holds the
    largest gradient each time the optimizer really steps."""

    def __init__(self, wrapper_of, name, **guard_options):
        from types import SimpleNamespace

        from mmengine.logging import MessageHub

        from mmssl_ext.engine.hooks import NonFiniteGuardHook
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
        self.wrapper = wrapper_of(self.model)
        self.runner = SimpleNamespace(model=self.model, optim_wrapper=self.wrapper, iter=0,
                                      work_dir='.', message_hub=MessageHub.get_instance(name))
        self.guard = NonFiniteGuardHook(save_checkpoint=False, **guard_options)
        self.guard.before_train(self.runner)
        self.seen = []
        optimizer = getattr(self.wrapper.optimizer, 'register_step_pre_hook', None)
        if optimizer is not None:
            optimizer(lambda opt, args, kwargs: self.seen.append(  # None: the step dropped
                max((p.grad.abs().max().item() for p in self.model.parameters()
                     if p.grad is not None), default=None)))

    def step(self, x, factor=1.0):
        runner, wrapper = self.runner, self.wrapper
        self.guard.before_train_iter(runner, runner.iter)
        with wrapper.optim_context(self.model):
            loss = self.model(x).float().pow(2).sum() * factor
        wrapper.update_params(loss)
        self.guard.after_train_iter(runner, runner.iter, outputs={'loss': loss.detach()})
        runner.iter += 1


def _static_scale_amp_wrapper(monkeypatch):
    def build(model):
        wrapper = _cpu_amp_wrapper(model, monkeypatch)
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=512.)
        wrapper._scale_update_param = 512.  # what AmpOptimWrapper(loss_scale=512.) keeps
        return wrapper
    return build


@pytest.mark.parametrize('scale', ['dynamic', 'static'])
def test_amp_overflow_restores_the_buffers_and_is_not_counted(monkeypatch, scale):
    """An fp16-style overflow (infinite scaled gradients, finite loss): the
    GradScaler skips the step without calling the optimizer (the guard's
    pre-hook never runs); a dynamic scaler halves its scale, a static one
    (``loss_scale=512.``) keeps it. Either way the guard sees the step was
    skipped: the buffers written by the forward (BN statistics here) are put
    back, the overflow is counted as the scaler's (``overflow_steps``), not as
    a fault. A finite step afterwards reaches the guard unscaled and is taken."""
    build = (lambda model: _cpu_amp_wrapper(model, monkeypatch)) if scale == 'dynamic' else \
        _static_scale_amp_wrapper(monkeypatch)
    tiny = _TinyGuarded(build, f'amp-overflow-{scale}', max_skipped=0)  # a fault would stop
    model, wrapper, guard = tiny.model, tiny.wrapper, tiny.guard
    weight, statistics = model[1].weight.detach().clone(), model[0].running_mean.clone()
    first = wrapper.loss_scaler.get_scale()
    # A finite loss whose scaled gradients are inf at either scale.
    tiny.step(torch.randn(2, 4), factor=1e34 * 2.0**16 / first)
    assert tiny.seen == []
    assert wrapper.loss_scaler.get_scale() == (first / 2 if scale == 'dynamic' else first)
    assert guard.skipped == 0 and guard.overflow_steps == 1
    assert torch.equal(model[1].weight, weight)
    assert torch.equal(model[0].running_mean, statistics)  # what the forward wrote: undone
    tiny.step(torch.randn(2, 4))
    assert len(tiny.seen) == 1 and tiny.seen[0] < 1e3  # unscaled
    assert guard.skipped == 0 and not torch.equal(model[1].weight, weight)


def test_overflows_at_every_scale_are_counted_from_the_streak_on(monkeypatch):
    """NaN gradients from a finite loss (sqrt at 0): the scaler skips every
    step and the scale decays for ever. From the max_overflow_streak-th skip
    in a row each one is a fault, and the budget ends the run."""
    tiny = _TinyGuarded(lambda model: _cpu_amp_wrapper(model, monkeypatch), 'amp-streak',
                        max_skipped=1, max_overflow_streak=3)
    x = torch.zeros(2, 4)
    nan_gradients = dict(factor=0.0)  # d/dw sqrt(0 * ...) is NaN; the loss 0 is finite

    def sqrt_step():
        runner, wrapper, model = tiny.runner, tiny.wrapper, tiny.model
        tiny.guard.before_train_iter(runner, runner.iter)
        with wrapper.optim_context(model):
            loss = (model(x).float().pow(2).sum() * nan_gradients['factor']).sqrt() + 1
        wrapper.update_params(loss)
        tiny.guard.after_train_iter(runner, runner.iter, outputs={'loss': loss.detach()})
        runner.iter += 1

    sqrt_step()
    sqrt_step()
    assert tiny.guard.overflow_steps == 2 and tiny.guard.skipped == 0
    sqrt_step()  # the third in a row: a fault (1 of at most 1)
    assert tiny.guard.skipped == 1
    with pytest.raises(RuntimeError, match=r'finite loss terms, but 4 steps in a row skipped '
                       r'by the loss scaler'):
        sqrt_step()
    assert tiny.seen == []


def test_a_nan_first_micro_batch_is_undone_at_the_end_of_its_window():
    """Gradient accumulation over 2 micro-batches, no AMP: NaN in the first
    one writes NaN BN statistics; the step at the window's end is dropped and
    the buffers go back to where the window started."""
    from mmengine.optim import OptimWrapper
    tiny = _TinyGuarded(lambda model: OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                                                   accumulative_counts=2),
                        'accumulation-nan', max_skipped=1)
    model, guard = tiny.model, tiny.guard
    tiny.step(torch.randn(2, 4))
    tiny.step(torch.randn(2, 4))
    statistics, weight = model[0].running_mean.clone(), model[1].weight.detach().clone()
    tiny.step(torch.full((2, 4), float('nan')))
    assert guard.skipped == 0  # not counted before the window's step
    tiny.step(torch.randn(2, 4))
    assert guard.skipped == 1
    assert torch.equal(model[0].running_mean, statistics)  # finite: the window's start
    assert torch.equal(model[1].weight, weight)
    tiny.step(torch.randn(2, 4))
    tiny.step(torch.randn(2, 4))
    assert [g is not None for g in tiny.seen] == [True, False, True]
    assert not torch.equal(model[1].weight, weight)


def test_an_optimizer_without_pre_hooks_still_gets_its_buffers_back():
    """DeepSpeed's engine steps an optimizer that takes no pre-hook: its own
    fp16 overflow handling decides the step. A non-finite loss term then
    restores the buffers and counts as a fault, and the message says the
    gradients were not checked."""
    from mmengine.optim import OptimWrapper

    class NoPreHooks:  # the optimizer as the guard sees DeepSpeed's
        def __init__(self, optimizer):
            self.optimizer, self.param_groups = optimizer, optimizer.param_groups

        def step(self):
            self.optimizer.step()

        def zero_grad(self, set_to_none=True):
            self.optimizer.zero_grad(set_to_none=set_to_none)

    def build(model):
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
        wrapper.optimizer = NoPreHooks(wrapper.optimizer)
        return wrapper

    tiny = _TinyGuarded(build, 'no-pre-hooks', max_skipped=0)
    tiny.step(torch.randn(2, 4))
    statistics = tiny.model[0].running_mean.clone()
    with pytest.raises(RuntimeError, match='the gradients were not checked'):
        tiny.step(torch.full((2, 4), float('nan')))
    assert torch.equal(tiny.model[0].running_mean, statistics)


def _guard_worker(rank, world_size, init_file, result_dir, amp=True):
    """One of 2 gloo processes: DDP, AMP (CPU GradScaler) or not; a NaN batch
    on rank 0 only, at the second step."""
    from types import SimpleNamespace

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    from mmengine.optim import OptimWrapper

    def build(model):
        if amp:
            return _cpu_amp_wrapper(model, SimpleNamespace(setattr=setattr))
        return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))

    tiny = _TinyGuarded(build, f'guard-rank{rank}', max_skipped=0)
    tiny.runner.model = DistributedDataParallel(tiny.model)
    tiny.model = tiny.runner.model
    outcome = 'went on'
    try:
        tiny.step(torch.randn(2, 4))
        bad = torch.full((2, 4), float('nan')) if rank == 0 else torch.randn(2, 4)
        tiny.step(bad)
    except RuntimeError as err:
        outcome = str(err).splitlines()[0]
    with open(osp.join(result_dir, f'rank{rank}.txt'), 'w') as f:
        f.write(outcome)
    dist.destroy_process_group()


@pytest.mark.parametrize('amp', [True, False], ids=['amp', 'fp32'])
def test_every_process_counts_a_fault_that_one_process_saw(tmp_path, amp):
    """DDP on 2 gloo processes, a NaN batch on rank 0 only. Under AMP the
    scaler skips the step on both (the gradients are all-reduced) and both
    count the fault (the non-finite-terms flag is all-reduced); in fp32 the
    pre-hook's flag is all-reduced. With max_skipped=0 both stop, rank 1
    saying the fault came from another process. Deciding per process, rank
    1 would go on alone into its next collective."""
    import torch.multiprocessing as mp
    mp.spawn(_guard_worker, args=(2, str(tmp_path / 'init'), str(tmp_path), amp), nprocs=2)
    outcomes = [open(tmp_path / f'rank{r}.txt').read() for r in range(2)]
    assert 'non-finite loss terms' in outcomes[0] and 'stopping' in outcomes[0], outcomes
    assert 'the fault came from another process' in outcomes[1], outcomes
    assert 'stopping' in outcomes[1], outcomes


def test_a_nan_step_under_amp_keeps_no_nan_in_the_queue(monkeypatch, synthetic_root):
    """MaskCo under AMP (bf16 autocast, torch's GradScaler) with NaN images for
    one step: the scaler skips the step and the guard's pre-hook never runs;
    the guard still restores the queue (no NaN key kept), the BN statistics
    and the pointer, counts the fault against max_skipped and says so."""
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope

    from mmssl_ext.analysis.benchmark import build_for_training, cpu_norms, one_batch
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(MASKCO_SYNTHETIC)
    cpu_norms(cfg.model)
    cfg.model.queue_len = 16
    hub = MessageHub.get_instance('amp-nan-maskco')
    batch = one_batch(cfg, synthetic_root, 4)
    model, _ = build_for_training(cfg, 'cpu')
    steps = _GuardedSteps(model, _cpu_amp_wrapper(model, monkeypatch), batch, hub,
                          max_skipped=1, save_checkpoint=False)
    step, guard = steps.step, steps.guard
    step(False)
    before = {k: v.clone() for k, v in model.named_buffers()}
    assert torch.isfinite(model.queue.embeddings).all()
    outputs = step(True)
    assert not math.isfinite(float(outputs['loss']))
    assert torch.isfinite(model.queue.embeddings).all()
    for name, value in model.named_buffers():
        assert torch.equal(value, before[name]), name
    assert guard.skipped == 1 and guard.overflow_steps == 0
    assert math.isfinite(float(step(False)['loss']))
    with pytest.raises(RuntimeError, match='the AMP loss scaler skipped the step'):
        step(True)  # the second fault exceeds max_skipped=1


# --------------------------------------------------------------------------
# FlexibleRunner (FSDP/DeepSpeed) checkpoints
# --------------------------------------------------------------------------
class _ShardedStrategy:
    """What FSDP's local state dict does: a folder of one file per rank."""

    def __init__(self, fail_after: int = -1) -> None:
        self.fail_after = fail_after

    def save_checkpoint(self, filename: str, **kwargs) -> None:
        os.makedirs(filename, exist_ok=True)
        for rank in range(2):
            if rank == self.fail_after:
                raise KeyboardInterrupt('killed while saving')
            torch.save({'rank': rank, **kwargs}, osp.join(filename, f'rank{rank}.pth'))


def test_a_sharded_checkpoint_appears_whole_or_not_at_all(tmp_path):
    from mmssl_ext.utils.checkpoint_io import make_strategy_checkpoints_atomic
    final = str(tmp_path / 'iter_2.pth')
    strategy = _ShardedStrategy()
    make_strategy_checkpoints_atomic(strategy)
    strategy.save_checkpoint(filename=final, step=1)
    assert sorted(os.listdir(final)) == ['rank0.pth', 'rank1.pth']
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth']  # nothing left beside it
    # A save of the same name killed after one shard: the old folder stays whole.
    strategy.fail_after = 1
    with pytest.raises(KeyboardInterrupt):
        strategy.save_checkpoint(filename=final, step=2)
    assert [torch.load(osp.join(final, f'rank{r}.pth'))['step'] for r in (0, 1)] == [1, 1]
    # The next save clears what the killed one left, and replaces the folder.
    strategy.fail_after = -1
    strategy.save_checkpoint(filename=final, step=3)
    assert [torch.load(osp.join(final, f'rank{r}.pth'))['step'] for r in (0, 1)] == [3, 3]
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth']


def test_flexible_runner_saves_through_the_atomic_path(tmp_path, small_run_options):
    """FlexibleRunner ignores the checkpoint hook's file backend; with
    atomic_local asked for, AtomicStrategyCheckpointHook wraps its strategy."""
    cfg = _small_cfg(tmp_path / 'flex', small_run_options, 'train_cfg.max_iters=2')
    cfg.runner_type = 'FlexibleRunner'
    cfg.strategy = dict(type='SingleDeviceStrategy')
    from mmengine.registry import RUNNERS
    runner = RUNNERS.build(cfg)
    saved = []
    runner.strategy.save_checkpoint = (
        lambda filename, _save=runner.strategy.save_checkpoint, **kw:
        (saved.append(filename), _save(filename=filename, **kw)))
    runner.train()
    assert runner.strategy._atomic_checkpoints
    assert saved == [str(tmp_path / 'flex' / '.iter_2.pth.tmp')]
    assert osp.isfile(tmp_path / 'flex' / 'iter_2.pth')
    assert not glob.glob(str(tmp_path / 'flex' / '.*tmp*'))
    # Without atomic_local the strategy is left as mmengine made it.
    cfg = _small_cfg(tmp_path / 'plain', small_run_options, 'train_cfg.max_iters=2')
    cfg.runner_type, cfg.strategy = 'FlexibleRunner', dict(type='SingleDeviceStrategy')
    cfg.default_hooks.checkpoint.backend_args = None
    runner = RUNNERS.build(cfg)
    runner.train()
    assert not getattr(runner.strategy, '_atomic_checkpoints', False)
