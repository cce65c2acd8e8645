"""Check a machine for mmssl_ext: versions, every pretraining config's training step, the pairs.

    python tools/analysis_tools/gpu_check.py [--device cuda|cpu] [--quick] [--out DIR]
        [--budget-s 480] [--batch N] [--pairs]

1. **Environment**: device, torch / CUDA / cuDNN / NCCL versions, bf16 and TF32
   support, mmcv ops, the OpenMMLab versions.
2. **Steps**: each pretraining config (``--quick``: the small synthetic config
   of each method) takes one real training step on its own pipeline's batch
   (synthetic scenes made under ``DIR``) in each precision: ``fp32``,
   ``amp-fp16`` and ``amp-bf16`` (on CUDA mmengine's ``AmpOptimWrapper`` with
   its loss scaler; on the CPU bf16 autocast, as the CI's AMP proxy), and
   ``channels-last`` (fp32). SyncBN configs keep SyncBN on one GPU (without a
   process group it is BN). A row: ``config``, ``mode``, ``ok`` (finite loss;
   finite gradients, or a step the fp16 loss scaler skipped), ``loss``,
   ``step_ms`` (the second step, the first warms up), ``peak_mib`` (CUDA),
   ``error`` (one line).
3. **Checks**: ``mmcv-cuda-ops`` (CUDA: mmcv's ``roi_align`` and ``nms`` on
   CUDA tensors, against their CPU kernels), ``deterministic`` (each
   method's small config, and DINO's ViT, under
   ``torch.use_deterministic_algorithms(True)`` with cuBLAS's workspace
   fixed as ``DeterministicCUDAHook`` does: bit-identical twice, or refused
   where the docs say an op has no deterministic CUDA kernel),
   ``host-syncs`` (CUDA: synchronizing calls of a step,
   ``torch.cuda.set_sync_debug_mode``; any in mmssl_ext's code fails) and
   ``detcon-loss-memory`` (whole batch against blocks: same loss and
   gradients, less memory; the shipped per-GPU batch on CUDA).
4. **Pairs** (CUDA without ``--quick``, or ``--pairs``): each method against
   its mmpretrain baseline, ResNet-50 / ViT-B at 224 px, batch 64, AMP (on
   CUDA), through ``benchmark_suite.py full``: step time, images/s, peak
   memory; then each data pipeline's images/s per worker and the workers that
   keep its pair's step fed (``benchmark_pipeline.py --step-ms``).

Writes ``DIR/gpu_check.json`` (``environment``, ``rows``, ``checks``, ``pairs``,
``pipeline``) and ``DIR/gpu_check.md`` (tables for docs/en/benchmarks.md),
printing progress. New work stops being started once ``--budget-s`` is spent;
the rows not run are listed as skipped. Exits 1 when a step failed.
"""
import argparse
import copy
import glob
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
import traceback
from typing import Callable, Dict, List, Optional, Sequence

import torch

from mmssl_ext.utils.tool_errors import run_tool

HERE = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(osp.dirname(HERE))
CUDA_MODES = ('fp32', 'amp-fp16', 'amp-bf16', 'channels-last')
CPU_MODES = ('fp32', 'amp-bf16', 'channels-last')
# The data pipelines whose images/s per worker tell the workers a GPU needs.
# Checked for determinism besides the small configs: the one refusal of the
# docs' table that no small config shows (the ViT position embedding).
DETERMINISM_EXTRA_CONFIGS = ('dino/dino_vit-small-p16_8xb64-coslr-100e_in1k.py', )
PIPELINE_CONFIGS = ('maskco/r50_8xb32_coco.py', 'detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py',
                    'ccmim/ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=['cuda', 'cpu'],
                        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--quick', action='store_true',
                        help='the small synthetic config of each method only, no pairs')
    parser.add_argument('--out', default='work_dirs/gpu_check', help='where the report goes')
    parser.add_argument('--budget-s', type=float, default=480,
                        help='stop starting new work after this many seconds')
    parser.add_argument('--batch', type=int, help='images per step (default: 8 cuda, 4 cpu)')
    parser.add_argument('--pair-batch', type=int, default=64, help='batch of the pairs')
    parser.add_argument('--configs', nargs='+',
                        help='these configs instead of the default set (steps and the '
                             'per-method checks)')
    parser.add_argument('--pairs', action='store_true',
                        help='run the pairs and pipelines on the CPU too (slow; without AMP)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('gpu_check.py: --device cuda, but torch sees no CUDA device '
                         f'(torch {torch.__version__}); use --device cpu')
    return args


def environment(device: str) -> Dict:
    """What the machine and its stack are, as far as they can be read: the
    benchmarks' :func:`~mmssl_ext.analysis.benchmark.machine`, plus CUDA's
    versions and abilities and the OpenMMLab packages."""
    from mmssl_ext.analysis.benchmark import machine
    env = dict(machine(device), cuda=torch.version.cuda)
    if device == 'cuda':
        major, minor = torch.cuda.get_device_capability()
        env.update(capability=f'{major}.{minor}',
                   gpu_mib=round(torch.cuda.get_device_properties(0).total_memory / 2**20),
                   cudnn=torch.backends.cudnn.version(),
                   bf16=torch.cuda.is_bf16_supported(), tf32=major >= 8)
        try:
            env['nccl'] = '.'.join(map(str, torch.cuda.nccl.version()))
        except (AttributeError, RuntimeError) as err:
            env['nccl'] = f'unavailable ({err})'
    else:
        env.update(bf16=True, tf32=False)  # CPU autocast runs bf16 (emulated without AVX512-BF16)
    for package in ('mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmseg', 'torchvision'):
        try:
            env[package] = __import__(package).__version__
        except Exception as err:  # noqa: BLE001 (any import failure is a finding to report)
            env[package] = f'not importable ({type(err).__name__}: {err})'.splitlines()[0]
    env['mmcv_ops'] = importlib.util.find_spec('mmcv._ext') is not None \
        if not env['mmcv'].startswith('not') else False
    if env['mmcv_ops']:
        try:
            from mmcv.ops import get_compiling_cuda_version
            env['mmcv_ops_cuda'] = get_compiling_cuda_version()
        except Exception as err:  # noqa: BLE001 (a broken build is a finding to report)
            env['mmcv_ops_cuda'] = f'unreadable ({type(err).__name__}: {err})'.splitlines()[0]
    return env


def mmcv_cuda_rows(args: argparse.Namespace) -> List[Dict]:
    """CUDA only: mmcv's compiled ops run on CUDA tensors (what mmdet and mmseg
    need for transfer; ``tools/install.sh`` builds them with ``FORCE_CUDA=1``)
    and agree with their CPU kernels: ``roi_align`` (values within 1e-4) and
    ``nms`` (the same boxes kept)."""
    if args.device != 'cuda':
        return []
    row = dict(check='mmcv-cuda-ops', config='roi_align, nms', ok=False, note=None)
    if importlib.util.find_spec('mmcv') is None or importlib.util.find_spec('mmcv._ext') is None:
        # mmcv-lite (the bare GPU machine's wheels): pretraining needs no ops.
        row.update(ok=None, note='skipped: this mmcv has no compiled ops (mmcv-lite)')
        return [row]
    try:
        from mmcv.ops import nms, roi_align
        gen = torch.Generator().manual_seed(0)
        features = torch.randn(2, 8, 16, 16, generator=gen)
        corners = torch.rand(6, 2, generator=gen) * 10
        boxes = torch.cat([corners, corners + 1 + torch.rand(6, 2, generator=gen) * 5], dim=1)
        rois = torch.cat([torch.tensor([0., 0, 0, 1, 1, 1])[:, None], boxes], dim=1)
        scores = torch.rand(6, generator=gen)
        on_cpu = roi_align(features, rois, (3, 3), 0.5, 2, 'avg', True)
        on_gpu = roi_align(features.cuda(), rois.cuda(), (3, 3), 0.5, 2, 'avg', True).cpu()
        kept_cpu = nms(boxes, scores, 0.3)[1].tolist()
        kept_gpu = nms(boxes.cuda(), scores.cuda(), 0.3)[1].cpu().tolist()
        diff = float((on_cpu - on_gpu).abs().max())
        row['ok'] = diff <= 1e-4 and kept_cpu == kept_gpu
        row['note'] = f'roi_align max diff {diff:.1e}; nms kept {kept_gpu} (CPU {kept_cpu})'
    except Exception as err:  # noqa: BLE001 (a CPU-only build fails here: the finding)
        row['note'] = _first_line(err)
    print(f'mmcv-cuda-ops: {row["ok"]} {row["note"]}', flush=True)
    return [row]


def default_configs(quick: bool) -> List[str]:
    from mmssl_ext.analysis.benchmark import pretraining_configs
    configs = pretraining_configs(osp.join(REPO_ROOT, 'configs'))
    small = [c for c in configs if c.endswith('_synthetic.py')]
    # The small config of each method first: within a short budget every
    # method's code runs in every precision before the full-size variants.
    return small if quick else small + [c for c in configs if c not in small]


def _configs(args: argparse.Namespace, quick: bool) -> List[str]:
    """``--configs`` where given (the steps and the per-method checks alike),
    else :func:`default_configs`."""
    return [osp.abspath(c) for c in args.configs] if args.configs else default_configs(quick)


def _prepared(path: str, args: argparse.Namespace, data_root: str):
    from mmssl_ext.analysis.benchmark import (TrainBenchmarkSettings, drop_remote_init,
                                              prepare_training_config)
    settings = TrainBenchmarkSettings(device=args.device, batch=args.batch, synthetic_data=True,
                                      data_root=data_root)
    cfg = prepare_training_config(path, {}, settings, fast_paths=False)
    drop_remote_init(cfg.model)  # no network on the machine, perhaps
    return cfg


def step_row(path: str, mode: str, cfg, data: dict, device: str) -> Dict:
    """Two training steps of a fresh model in ``mode``; the second one timed."""
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper

    from mmssl_ext.analysis.benchmark import build_for_training, checked_step
    row = dict(config=osp.basename(path), mode=mode, ok=False, loss=None, step_ms=None,
               peak_mib=None, error=None)
    try:
        MessageHub.get_current_instance().update_info('max_iters', 100)  # BYOL's CosineEMA
        model, wrapper = build_for_training(cfg, device)
        autocast = None
        if mode.startswith('amp-'):
            dtype = dict(fp16=torch.float16, bf16=torch.bfloat16)[mode[4:]]
            if device == 'cuda':  # mmengine's AMP: autocast and the loss scaler
                amp_cfg = copy.deepcopy(cfg.optim_wrapper)
                amp_cfg.update(type='AmpOptimWrapper',
                               dtype='float16' if dtype == torch.float16 else 'bfloat16')
                wrapper = build_optim_wrapper(model, amp_cfg)
            else:
                autocast = dtype
        channels_last = mode == 'channels-last'
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        checked_step(model, wrapper, copy.deepcopy(data), autocast, channels_last)
        _sync(device)
        start = time.perf_counter()
        losses, finite = checked_step(model, wrapper, copy.deepcopy(data), autocast, seed=1)
        _sync(device)
        row['step_ms'] = round((time.perf_counter() - start) * 1e3, 1)
        row['loss'] = losses.get('loss')
        scaler = getattr(wrapper, 'loss_scaler', None)
        skipped = not finite and scaler is not None and mode == 'amp-fp16'
        row['ok'] = bool(row['loss'] is not None and math.isfinite(row['loss'])
                         and (finite or skipped))
        if skipped:
            row['note'] = 'the loss scaler skipped the step (inf/nan gradients at this scale)'
        elif not finite:
            row['error'] = 'non-finite gradients'
        if device == 'cuda':
            row['peak_mib'] = round(torch.cuda.max_memory_allocated() / 2**20)
    except Exception as err:  # noqa: BLE001 (each failure is a row of the report)
        row['error'] = f'{type(err).__name__}: {err}'.splitlines()[0][:300]
        row['traceback'] = traceback.format_exc(limit=-4)
    finally:
        if device == 'cuda':
            torch.cuda.empty_cache()
    return row


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def run_steps(args: argparse.Namespace, data_root: str, deadline: float) -> List[Dict]:
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.analysis.benchmark import one_batch
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    modes = CUDA_MODES if args.device == 'cuda' else CPU_MODES
    configs = _configs(args, args.quick)
    rows = []
    for number, path in enumerate(configs, 1):
        if time.time() > deadline:
            rows += [dict(config=osp.basename(path), mode=m, ok=None, loss=None, step_ms=None,
                          error='skipped: --budget-s spent') for m in modes]
            continue
        try:
            cfg = _prepared(path, args, data_root)
            data = one_batch(cfg, data_root, args.batch)
        except Exception as err:  # noqa: BLE001
            error = f'{type(err).__name__}: {err}'.splitlines()[0][:300]
            rows += [dict(config=osp.basename(path), mode=m, ok=False, loss=None, step_ms=None,
                          error=f'preparing: {error}') for m in modes]
            print(f'[{number}/{len(configs)}] {osp.basename(path)}: {error}', flush=True)
            continue
        for mode in modes:
            row = step_row(path, mode, cfg, data, args.device)
            rows.append(row)
            print(f'[{number}/{len(configs)}] {row["config"]} {mode}: '
                  f'{"ok" if row["ok"] else "FAILED"} loss {row["loss"]} '
                  f'{row["step_ms"]} ms{" " + row["error"] if row["error"] else ""}', flush=True)
    return rows


def _check_configs(args: argparse.Namespace, extra_configs: Sequence[str] = ()) -> List[str]:
    """The configs of a per-method check: ``--configs`` where given, else the
    small configs and then ``extra_configs`` (paths under ``configs/``)."""
    if args.configs:
        return _configs(args, quick=True)
    return default_configs(quick=True) + [osp.join(REPO_ROOT, 'configs', c)
                                          for c in extra_configs]


def _rows_per_config(check: str, fields: Dict, args: argparse.Namespace, data_root: str,
                     deadline: float, measure: Callable, on_error: Callable,
                     extra_configs: Sequence[str] = ()) -> List[Dict]:
    """One row of ``check`` per method (:func:`_check_configs`), within the
    budget: ``measure(row, cfg, data)`` fills the row from the prepared config
    and a batch of its pipeline; ``on_error(row, err)`` records what raised."""
    from mmssl_ext.analysis.benchmark import one_batch
    rows = []
    for path in _check_configs(args, extra_configs):
        row = dict(check=check, config=osp.basename(path), ok=None, **fields, note=None)
        rows.append(row)
        if time.time() > deadline:
            row['note'] = 'skipped: --budget-s spent'
            continue
        try:
            cfg = _prepared(path, args, data_root)
            measure(row, cfg, one_batch(cfg, data_root, args.batch))
        except Exception as err:  # noqa: BLE001 (each failure is a row of the report)
            on_error(row, err)
        finally:
            if args.device == 'cuda':
                torch.cuda.empty_cache()
        print(f'{check} {row["config"]}: {row["ok"]} {row["note"]}', flush=True)
    return rows


def _first_line(err: Exception) -> str:
    return f'raised {type(err).__name__}: {err}'.splitlines()[0][:300]


def determinism_rows(args: argparse.Namespace, data_root: str, deadline: float) -> List[Dict]:
    """``randomness.deterministic=True`` on this device, per method (small
    configs, and DINO's ViT): two copies of the model take one step each on
    the same batch and draws under ``torch.use_deterministic_algorithms(True)``
    (cuBLAS's workspace fixed at the start of :func:`main`). ``ok``: the configs
    the docs call deterministic run and give bit-identical losses and
    gradients; those with ``expected_ops`` raise (on CUDA only)."""
    from mmssl_ext.analysis.benchmark import build_for_training, checked_step
    from mmssl_ext.engine.hooks.deterministic_cuda import nondeterministic_cuda_ops

    def measure(row, cfg, data):
        results = []
        for _ in range(2):
            model, wrapper = build_for_training(cfg, args.device)
            expected = nondeterministic_cuda_ops(model) if args.device == 'cuda' else []
            row['expected_ops'] = expected
            torch.use_deterministic_algorithms(True)
            try:
                losses, _ = checked_step(model, wrapper, copy.deepcopy(data))
            finally:
                torch.use_deterministic_algorithms(False)
            results.append((losses['loss'], [p.detach().clone() for p in model.parameters()
                                             if p.requires_grad]))
        identical = results[0][0] == results[1][0] and all(
            torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))
        row['ok'] = identical and not expected
        row['note'] = 'bit-identical' if identical else 'ran, but the two steps differ'

    def on_error(row, err):
        row['note'] = _first_line(err)
        # A refusal the docs predict is the expected outcome.
        row['ok'] = bool(row['expected_ops']) and 'deterministic' in str(err)

    return _rows_per_config('deterministic', dict(expected_ops=None), args, data_root, deadline,
                            measure, on_error, DETERMINISM_EXTRA_CONFIGS)


def host_sync_rows(args: argparse.Namespace, data_root: str, deadline: float) -> List[Dict]:
    """CUDA only: the synchronizing calls of one training step per method
    (small configs), counted with ``torch.cuda.set_sync_debug_mode('warn')``
    on the second step; ``sites``: where they come from. ``ok`` is False
    when the step fails or when a site is in mmssl_ext's own code (which
    claims none: tests/test_host_syncs.py checks the host reads it can see on
    the CPU; this sees the rest, e.g. copies from pageable memory or
    boolean indexing); the sites of torch, mmengine and mmpretrain are listed."""
    import warnings

    from mmssl_ext.analysis.benchmark import build_for_training, checked_step
    if args.device != 'cuda':
        return []

    def measure(row, cfg, data):
        model, wrapper = build_for_training(cfg, args.device)
        checked_step(model, wrapper, copy.deepcopy(data))
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            torch.cuda.set_sync_debug_mode('warn')
            try:
                model.train_step(copy.deepcopy(data), wrapper)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        syncs = [w for w in caught if 'synchroniz' in str(w.message)]
        sites: Dict[str, int] = {}
        ours = set()
        for w in syncs:
            site = f'{osp.basename(w.filename)}:{w.lineno}'
            sites[site] = sites.get(site, 0) + 1
            if f'{os.sep}mmssl_ext{os.sep}' in w.filename:
                ours.add(site)
        row.update(ok=not ours, syncs=len(syncs), sites=sites, ours=sorted(ours))

    def on_error(row, err):
        row['ok'], row['note'] = False, _first_line(err)

    return _rows_per_config('host-syncs', dict(syncs=None, sites=None, ours=None), args, data_root,
                            deadline, measure, on_error)


def detcon_loss_rows(args: argparse.Namespace, deadline: float) -> List[Dict]:
    """DetConLoss's memory, whole batch against blocks of anchor images: the
    shipped per-GPU batch (256 images of 16 masks against 4096 gathered,
    blocks of 32) on CUDA, a small one (16 against 64, blocks of 4) on the CPU.

    The whole batch's row is a finding either way (``ok`` None when it runs
    out of memory: what the blocks are for). The blocks' row is ``ok`` when
    it runs and, where the whole batch ran too, gives its loss (rel. 1e-5)
    and gradients (max difference 1e-4 of the largest) with a lower peak
    (CUDA) or fewer saved tensors (CPU).
    """
    from mmssl_ext.analysis.benchmark import detcon_loss_memory
    images, gathered, block = (256, 4096, 32) if args.device == 'cuda' else (16, 64, 4)
    rows, grads = [], []
    for block in (None, block):
        row = dict(check='detcon-loss-memory', ok=None, block_images=block)
        rows.append(row)
        if time.time() > deadline:
            row['note'] = 'skipped: --budget-s spent'
            continue
        try:
            figures = detcon_loss_memory(images, gathered, block_images=block,
                                         device=args.device, return_grads=True)
            grads.append(figures.pop('grads'))
            row.update(figures, ok=True)
        except Exception as err:  # noqa: BLE001 (an out-of-memory is a finding)
            out_of_memory = 'out of memory' in str(err).lower()
            row['ok'] = None if out_of_memory and block is None else False
            row['note'] = f'{type(err).__name__}: {err}'.splitlines()[0][:300]
        finally:
            if args.device == 'cuda':
                torch.cuda.empty_cache()
        print(f'detcon loss memory {row}', flush=True)
    whole, blocks = rows
    if whole.get('loss') is not None and blocks.get('loss') is not None:
        blocks['same_loss'] = math.isclose(whole['loss'], blocks['loss'], rel_tol=1e-5)
        scale = float(grads[0].abs().max())
        blocks['grad_max_diff'] = float((grads[0] - grads[1]).abs().max()) / max(scale, 1e-30)
        memory = 'peak_mib' if args.device == 'cuda' else 'saved_mib'
        blocks['less_memory'] = blocks[memory] < whole[memory]
        blocks['ok'] = (blocks['same_loss'] and blocks['grad_max_diff'] <= 1e-4
                        and blocks['less_memory'])
    return rows


def _pair_step_ms(pairs: List[Dict], config: str) -> Optional[float]:
    """The median step (ms) that the pairs measured for ``config``, if any."""
    for figures in pairs:
        for row in figures.get('rows', []):
            if row.get('config') == osp.basename(config):
                return row['step_s']['median'] * 1e3
    return None


def _run_within(command: List[str], deadline: float) -> str:
    """A tool's stdout, stopped (and said so) when the budget runs out."""
    print('$', ' '.join(command), flush=True)
    try:
        proc = subprocess.run(command, capture_output=True, text=True,
                              timeout=max(deadline - time.time(), 1))
        out = proc.stdout
        if proc.returncode:
            out += f'\n(exit {proc.returncode}: {proc.stderr[-1500:]})'
        return out
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or '')
        return out + '\n(stopped: --budget-s spent)'


def run_pairs(args: argparse.Namespace, data_root: str, deadline: float) -> Dict:
    """benchmark_suite.py full, then benchmark_pipeline.py for the data pipelines
    with each config's step time from the pairs (the workers that keep it fed),
    within the budget left."""
    if deadline - time.time() < 60:
        return dict(pairs_markdown='skipped: --budget-s spent', pairs=[], pipeline=[])
    out = osp.join(args.out, 'pairs')
    result = dict(pairs_markdown=_run_within(
        [sys.executable, osp.join(HERE, 'benchmark_suite.py'), 'full', '--full-batch',
         str(args.pair_batch), *(['--amp'] if args.device == 'cuda' else []), '--data-root',
         data_root, '--out', out], deadline))
    result['pairs'] = [json.load(open(f)) for f in sorted(glob.glob(osp.join(out, '*.json')))]
    result['pipeline'], markdowns = [], []
    for config in PIPELINE_CONFIGS:
        if deadline - time.time() < 20:
            markdowns.append(f'{config}: skipped, --budget-s spent')
            continue
        figures = osp.join(args.out, f'pipeline_{osp.basename(config)[:-3]}.json')
        step_ms = _pair_step_ms(result['pairs'], config)
        markdowns.append(_run_within(
            [sys.executable, osp.join(HERE, 'benchmark_pipeline.py'),
             osp.join(REPO_ROOT, 'configs', config), '--data-root', data_root, '--num', '32',
             '--batch', str(args.pair_batch), '--json', figures]
            + (['--step-ms', f'{step_ms:.1f}'] if step_ms else []), deadline))
        if osp.isfile(figures):
            result['pipeline'] += json.load(open(figures))
    result['pipeline_markdown'] = '\n'.join(markdowns)
    return result


def checks_markdown(checks: List[Dict]) -> List[str]:
    if not checks:
        return []
    lines = ['', '### Checks (issue 22)', '', '| check | config / size | ok | result |',
             '|---|---|---|---|']
    for row in checks:
        ok = {True: 'yes', False: '**no**', None: 'skipped'}[row['ok']]
        if row['check'] == 'detcon-loss-memory':
            what = (f'{row.get("images")} images vs {row.get("gathered")}, blocks '
                    f'{row["block_images"]}')
            result = row.get('note') or (
                f'saved {row["saved_mib"]:.0f} MiB, peak '
                f'{row["peak_mib"] if row["peak_mib"] is None else round(row["peak_mib"])} MiB, '
                f'{row["ms"]:.0f} ms, loss {row["loss"]:.6f}'
                + (f', gradients within {row["grad_max_diff"]:.1e} of the whole batch\'s'
                   if row.get('grad_max_diff') is not None else ''))
        elif row['check'] == 'host-syncs':
            what, result = row['config'], row.get('note') or (
                f'{row["syncs"]} {row["sites"]}'
                + (f'; in mmssl_ext: {row["ours"]}' if row.get('ours') else ''))
        elif row['check'] == 'mmcv-cuda-ops':
            what, result = row['config'], row['note']
        else:
            what = row['config']
            result = f'{row.get("note")}; expected ops {row.get("expected_ops")}'
        lines.append(f'| {row["check"]} | {what} | {ok} | {str(result).replace("|", "/")} |')
    return lines


def markdown(env: Dict, rows: List[Dict], pairs: Dict, checks: Optional[List[Dict]] = None) -> str:
    device = env.get('gpu', env['device'])
    shown = ('torch', 'cuda', 'cudnn', 'nccl', 'bf16', 'tf32', 'mmcv', 'mmcv_ops', 'mmengine',
             'mmpretrain')
    lines = [f'## gpu_check: {device}', '',
             ', '.join(f'{k} {env[k]}' for k in shown if k in env), '',
             '| config | mode | ok | loss | step ms | peak MiB | note |',
             '|---|---|---|---|---|---|---|']
    for row in rows:
        ok = {True: 'yes', False: '**no**', None: 'skipped'}[row['ok']]
        loss = f'{row["loss"]:.4f}' if isinstance(row['loss'], float) else '-'
        note = row.get('error') or row.get('note') or ''
        lines.append(f'| {row["config"]} | {row["mode"]} | {ok} | {loss} | '
                     f'{row["step_ms"] if row["step_ms"] is not None else "-"} | '
                     f'{row.get("peak_mib") or "-"} | {note.replace("|", "/")} |')
    lines += checks_markdown(checks or [])
    if pairs.get('pairs_markdown'):
        lines += ['', '### Pairs (benchmark_suite.py full)', '', pairs['pairs_markdown']]
    if pairs.get('pipeline_markdown'):
        lines += ['', '### Data pipeline (benchmark_pipeline.py)', '',
                  pairs['pipeline_markdown']]
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    # cuBLAS is deterministic only with a fixed workspace, set before its first use.
    from mmssl_ext.engine.hooks.deterministic_cuda import use_deterministic_cublas
    use_deterministic_cublas()
    args = parse_args(argv)
    from mmssl_ext.analysis.benchmark import load_config
    for path in args.configs or []:
        load_config(path)  # a missing or broken config: one line, before any work
    start = time.time()
    deadline = start + args.budget_s
    args.batch = args.batch or (8 if args.device == 'cuda' else 4)
    os.makedirs(args.out, exist_ok=True)
    env = environment(args.device)
    print(json.dumps(env, indent=1), flush=True)
    from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate
    data_root = osp.join(args.out, 'synthetic_scenes')
    if not osp.isfile(osp.join(data_root, 'annotations', 'instances_train.json')):
        generate(data_root, SceneConfig(num_train=max(2 * args.batch, 24), num_val=8,
                                        image_size=96), verbose=False)
    rows = run_steps(args, data_root, deadline)
    checks = (mmcv_cuda_rows(args) + determinism_rows(args, data_root, deadline)
              + host_sync_rows(args, data_root, deadline) + detcon_loss_rows(args, deadline))
    pairs = run_pairs(args, data_root, deadline) if args.pairs or (
        args.device == 'cuda' and not args.quick) else {}
    report = dict(environment=env, rows=rows, checks=checks, pairs=pairs.get('pairs', []),
                  pipeline=pairs.get('pipeline', []), seconds=round(time.time() - start, 1),
                  command='python tools/analysis_tools/gpu_check.py ' + ' '.join(
                      sys.argv[1:] if argv is None else argv))
    with open(osp.join(args.out, 'gpu_check.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(args.out, 'gpu_check.md'), 'w') as f:
        f.write(markdown(env, rows, pairs, checks))
    failed = [r for r in rows + checks if r['ok'] is False]
    print(f'{len(rows) - len(failed)} of {len(rows)} steps ok '
          f'({sum(r["ok"] is None for r in rows)} skipped), {report["seconds"]} s; '
          f'report in {args.out}/gpu_check.md and gpu_check.json', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
