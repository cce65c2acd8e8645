"""Training speed and memory of a config, optionally against a baseline in the same run.

For each config: its model (built by the registry, ``init_weights`` as the
Runner calls it), its optimizer wrapper (``AmpOptimWrapper`` included), its fast
paths (``compile``, ``ChannelsLastHook`` in ``custom_hooks``, ``with_cp`` in
the model) and its train dataloader (pipeline, workers, pinned memory). The
dataset is pointed at the embedded synthetic scenes (``--own-data`` keeps the
config's). After ``--warmup`` untimed iterations, ``--iters`` timed ones; with
``--baseline`` the two configs alternate iteration by iteration (ABBA order),
so both see the same machine state.

Per config: the model step (data preprocessor, forward, backward, optimizer
step, momentum updates and queues: ``model.train_step``) and the wait for the
next batch (the dataloader; 0 with ``--synthetic-data``, which reuses one batch
made by the config's pipeline, to isolate the model), as median and
quartiles; images/s; the encoder's GMACs per view; the activation memory
autograd saves for the backward (any device); the peak memory (CUDA max
allocated or, on the CPU, peak RSS, of a child process that runs the model
alone for a few steps).

    # MaskCo vs mmpretrain's MoCo v2, the CPU variants:
    python tools/analysis_tools/benchmark_train.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py \
        --baseline configs/mocov2/mocov2_r18_1xb32-600i_synthetic.py
    # DetCon_S vs mmpretrain's SimCLR at ResNet-50, 224 px, AMP (a GPU):
    python tools/analysis_tools/benchmark_train.py \
        configs/detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py \
        --baseline mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py \
        --batch 64 --amp --on-both --json detcon_s.json
    # a fast path's effect: the same config with and without it
    python tools/analysis_tools/benchmark_train.py CONFIG --baseline CONFIG --channels-last
"""
import argparse
import copy
import inspect
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmssl_ext.utils import register_all_modules
from mmssl_ext.utils.benchmark import (RSSSampler, build_for_training, count_saved_activations,
                                       cpu_norms, encoder_macs, load_config, one_batch, spread,
                                       use_synthetic_scenes, view_size)
from mmssl_ext.utils.tool_errors import run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file, or package::path of an installed '
                        'OpenMMLab package')
    parser.add_argument('--baseline', help='a second config, alternated with the first; '
                        'ratios are config / baseline')
    parser.add_argument('--batch', type=int, help='images per step (default: the config\'s)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations first')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per config')
    parser.add_argument('--synthetic-data', action='store_true',
                        help='reuse one batch made by the pipeline: the model step alone')
    parser.add_argument('--data-root', default='data/synthetic_scenes',
                        help='synthetic scenes (tools/misc/make_synthetic_scenes.py) read '
                        'by every config')
    parser.add_argument('--own-data', action='store_true',
                        help='read the config\'s own dataset (e.g. real COCO) instead')
    parser.add_argument('--workers', type=int, help='dataloader workers (default: the config\'s)')
    fast = parser.add_argument_group(
        'fast paths', 'set the config option a user would set, on the config only (so that '
        'CONFIG --baseline CONFIG --FAST-PATH measures its effect) or, with --on-both, on the '
        'baseline too')
    fast.add_argument('--amp', nargs='?', const='float16', choices=['float16', 'bfloat16'],
                      help='optim_wrapper type AmpOptimWrapper (mmengine; a GPU)')
    fast.add_argument('--channels-last', action='store_true',
                      help='custom_hooks += ChannelsLastHook')
    fast.add_argument('--compile', action='store_true',
                      help='compile = True (mmengine: the whole train_step)')
    fast.add_argument('--compile-modules', metavar='NAMES',
                      help='custom_hooks += CompileModulesHook(modules=NAMES), comma-separated '
                      '(for queue-based models, whose whole step does not compile)')
    fast.add_argument('--with-cp', action='store_true',
                      help='with_cp = True in the backbone (and the neck where it has it)')
    fast.add_argument('--on-both', action='store_true',
                      help='apply the fast paths to the baseline as well')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the config, key=value')
    parser.add_argument('--baseline-cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the baseline, key=value')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory child processes')
    parser.add_argument('--json', help='write the figures here')
    parser.add_argument('--memory-child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--options-json', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class Subject:
    """One config under measurement: its model, optimizer wrapper and batches."""

    def __init__(self, path: str, options: dict, args: argparse.Namespace,
                 fast_paths: bool = True) -> None:
        self.path = path
        self.name = osp.basename(path.split('::')[-1])
        if fast_paths:
            self.name += ''.join(f' +{name}' for name, on in (
                (args.amp, args.amp), ('channels_last', args.channels_last),
                ('compile', args.compile), ('compile ' + str(args.compile_modules),
                                            args.compile_modules),
                ('with_cp', args.with_cp)) if on)
        self.options = options
        self.fast_paths = fast_paths
        self.cfg = prepare_config(path, options, args, fast_paths)
        self.device = args.device
        self.batch = self.cfg.train_dataloader.batch_size
        self.synthetic = args.synthetic_data
        if args.synthetic_data:
            self.fixed_batch = one_batch(self.cfg, args.data_root, self.batch)
            self.loader = None
        else:
            from mmengine.runner import Runner
            self.loader = Runner.build_dataloader(copy.deepcopy(self.cfg.train_dataloader),
                                                  seed=0)
            self.batches = iter(self.loader)
        self.model, self.optim_wrapper = build_for_training(self.cfg, args.device)
        apply_fast_paths(self.model, self.cfg)
        self.step_times: List[float] = []
        self.data_times: List[float] = []
        self.size: Optional[int] = None
        self.last_batch: Optional[dict] = None

    def next_batch(self) -> dict:
        if self.loader is None:
            return self.fixed_batch
        try:
            return next(self.batches)
        except StopIteration:  # an epoch-based sampler ran out: a new epoch
            self.batches = iter(self.loader)
            return next(self.batches)

    def iterate(self, timed: bool) -> None:
        start = time.perf_counter()
        data = self.next_batch()
        fetched = time.perf_counter()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            fetched = time.perf_counter()
        self.model.train_step(data, self.optim_wrapper)
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
        done = time.perf_counter()
        self.size = view_size(data)
        self.last_batch = data
        if timed:
            self.data_times.append(fetched - start)
            self.step_times.append(done - fetched)

    def saved_activation_bytes(self) -> int:
        with count_saved_activations() as storages:
            self.model.train_step(self.last_batch, self.optim_wrapper)
        return sum(storages.values())


def prepare_config(path: str, options: dict, args: argparse.Namespace,
                   fast_paths: bool) -> Config:
    cfg = load_config(path)
    if options:
        cfg.merge_from_dict(copy.deepcopy(options))
    if args.device == 'cpu':
        cpu_norms(cfg.model)
    if fast_paths:
        set_fast_paths(cfg, args)
    if 'AmpOptimWrapper' in str(cfg.optim_wrapper.get('type')) and args.device == 'cpu':
        if fast_paths and args.amp:
            raise SystemExit(f'{path}: mmengine\'s AmpOptimWrapper needs a GPU (its '
                             'GradScaler is CUDA-only): drop --amp on the CPU')
        # An AMP config on the CPU: its fp32 step, as benchmark_ccmim.py does.
        print(f'  {osp.basename(path)}: AMP needs a GPU; timing the fp32 step', flush=True)
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                 **{k: v for k, v in cfg.optim_wrapper.items()
                                    if k in ('paramwise_cfg', 'clip_grad')})
    loader = cfg.train_dataloader
    if args.batch:
        loader.batch_size = args.batch
    if args.workers is not None:
        loader.num_workers = args.workers
        if args.workers == 0:
            loader.persistent_workers = False
    if not args.own_data:
        use_synthetic_scenes(loader.dataset, args.data_root)
    # A queue must hold a whole number of batches.
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = max(cfg.model.queue_len // loader.batch_size, 1) * loader.batch_size
    return cfg


def set_fast_paths(cfg: Config, args: argparse.Namespace) -> None:
    """The config options of the requested fast paths, as a user sets them."""
    if args.amp:
        cfg.optim_wrapper.update(type='AmpOptimWrapper', dtype=args.amp)
    if args.channels_last:
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='ChannelsLastHook')]
    if args.compile:
        cfg.compile = True
    if args.compile_modules:
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='CompileModulesHook', modules=args.compile_modules.split(','))]
    if args.with_cp:
        from mmssl_ext.registry import MODELS
        for part in ('backbone', 'neck'):
            part_cfg = cfg.model.get(part)
            if not part_cfg:
                continue
            cls = MODELS.get(part_cfg['type'])
            if cls is not None and 'with_cp' in inspect.signature(cls).parameters:
                part_cfg['with_cp'] = True
            elif part == 'backbone':
                raise SystemExit(f'{path_of(cfg)}: the backbone {part_cfg["type"]} has no with_cp '
                                 'option (mmpretrain\'s ResNet and our ImportanceMaskingViT '
                                 'have; mmpretrain\'s ViT/MAEViT do not)')


def path_of(cfg: Config) -> str:
    return cfg.filename or '<config>'


def apply_fast_paths(model: torch.nn.Module, cfg: Config) -> None:
    """What the Runner would do to the model: the ``ChannelsLastHook`` and
    ``CompileModulesHook`` of ``custom_hooks``, then ``compile`` (as mmengine
    compiles ``train_step``)."""
    from mmssl_ext.engine.hooks import ChannelsLastHook, CompileModulesHook
    for hook in cfg.get('custom_hooks', None) or []:
        kind = str(hook.get('type')).split('.')[-1]
        if kind == 'ChannelsLastHook':
            ChannelsLastHook.convert(model)
        elif kind == 'CompileModulesHook':
            options = {k: v for k, v in hook.items() if k not in ('type', 'modules', 'priority')}
            CompileModulesHook.compile(model, hook.get('modules', ('backbone', )), **options)
    compile_cfg = cfg.get('compile', False)
    if compile_cfg:
        compile_cfg = {} if compile_cfg is True else dict(compile_cfg)
        compile_cfg.pop('target', None)
        model.train_step = torch.compile(model.train_step, **compile_cfg)


def memory_in_child(path: str, options: dict, args: argparse.Namespace,
                    fast_paths: bool) -> dict:
    """Peak memory of a fresh process running this config's model alone for a
    few steps (on the CPU its peak RSS and the rise over the steps; on CUDA the
    max allocated), so that the other config's weights do not count."""
    command = [sys.executable, osp.abspath(__file__), path, '--memory-child',
               '--synthetic-data', '--warmup', '1', '--iters', '2', '--device', args.device,
               '--data-root', args.data_root, '--options-json', json.dumps(options)]
    if args.batch:
        command += ['--batch', str(args.batch)]
    if fast_paths:
        command += [flag for flag, on in (('--channels-last', args.channels_last),
                                          ('--compile', args.compile),
                                          ('--with-cp', args.with_cp)) if on]
        if args.compile_modules:
            command += ['--compile-modules', args.compile_modules]
        if args.amp:
            command += ['--amp', args.amp]
    proc = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    for line in proc.stdout.splitlines():
        if line.startswith('MEMORY '):
            return json.loads(line[len('MEMORY '):])
    print(f'  (memory of {path} not measured: {proc.stderr.strip()[-400:]})', flush=True)
    return {}


def environment(args: argparse.Namespace) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        pass
    env = dict(device=args.device, torch=torch.__version__, threads=torch.get_num_threads(),
               cpu=cpu, cpu_count=os.cpu_count(), python=platform.python_version(),
               command='python tools/analysis_tools/benchmark_train.py ' + ' '.join(sys.argv[1:]))
    if args.device.startswith('cuda'):
        env['gpu'] = torch.cuda.get_device_name()
    return env


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.options_json:  # a child process gets the parent's parsed overrides
        args.cfg_options = json.loads(args.options_json)
    register_all_modules(init_default_scope=False)
    # Our registries are children of mmpretrain's: both kinds of config build.
    init_default_scope('mmssl_ext')
    # mmpretrain's CosineEMA (BYOL, DetCon_B) reads the run length from here.
    MessageHub.get_current_instance().update_info('max_iters', 1_000_000)

    subjects = [Subject(args.config, args.cfg_options, args)]
    if args.baseline:
        subjects.append(Subject(args.baseline, args.baseline_cfg_options, args,
                                fast_paths=args.on_both))
    if args.memory_child:
        # The rise of RSS over the steps, from the built model on: activations,
        # gradients and optimizer state (glibc keeps freed memory, so later
        # steps add little); the total includes Python and the libraries.
        cuda = args.device.startswith('cuda')
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with RSSSampler() as rss:
            for _ in range(args.warmup + args.iters):
                subjects[0].iterate(timed=False)
        memory = dict(peak_rss=rss.peak, rss_rise=rss.rise)
        if cuda:
            memory['cuda_peak'] = torch.cuda.max_memory_allocated()
        print('MEMORY ' + json.dumps(memory))
        return []

    for i in range(args.warmup + args.iters):
        # ABBA: neither config always runs right after the other one's step.
        for subject in (subjects if i % 2 == 0 else subjects[::-1]):
            subject.iterate(timed=i >= args.warmup)
        if i == args.warmup - 1 or (i + 1 - args.warmup) % 10 == 0:
            print(f'  iteration {i + 1}/{args.warmup + args.iters}', flush=True)

    rows = []
    for subject in subjects:
        totals = [s + d for s, d in zip(subject.step_times, subject.data_times)]
        row = dict(config=subject.name, path=subject.path, options=subject.options,
                   batch=subject.batch, view=subject.size,
                   step_s=spread(subject.step_times), data_s=spread(subject.data_times),
                   images_per_s=subject.batch / spread(totals)['median'],
                   # counted on an unaltered build: a trace cannot enter compiled modules
                   gmacs_per_view=encoder_macs(build_for_training(subject.cfg, 'cpu')[0],
                                               subject.size) / 1e9,
                   saved_activations_mib=subject.saved_activation_bytes() / 2**20,
                   workers=0 if subject.synthetic else subject.cfg.train_dataloader.num_workers)
        if not args.no_memory:
            memory = memory_in_child(subject.path, subject.options, args, subject.fast_paths)
            if args.device.startswith('cuda'):
                row['peak_mib'] = memory['cuda_peak'] / 2**20 if memory else None
                row['peak_kind'] = 'CUDA max allocated by a process running the model alone'
            else:
                row['peak_mib'] = memory['peak_rss'] / 2**20 if memory else None
                row['train_mib'] = memory['rss_rise'] / 2**20 if memory else None
                row['peak_kind'] = 'peak RSS of a process running the model alone'
        rows.append(row)
    report(rows, args)
    return rows


def report(rows: List[dict], args: argparse.Namespace) -> None:
    env = environment(args)
    print(f'\n{env["device"]} ({env.get("gpu", env["cpu"])}), torch {env["torch"]}, '
          f'{env["threads"]} threads; {args.iters} timed iterations after {args.warmup} '
          f'warm-up' + ('; one batch reused (--synthetic-data)' if args.synthetic_data else ''))
    base = rows[-1] if len(rows) > 1 else rows[0]
    header = (f'{"config":<46}{"view":>5}{"batch":>6}{"step ms":>9}{"(q1-q3)":>15}'
              f'{"data ms":>9}{"img/s":>8}{"x base":>7}{"GMACs":>7}{"act MiB":>9}'
              f'{"peak MiB":>10}{"rise MiB":>10}')
    print(header)
    for row in rows:
        step, data = row['step_s'], row['data_s']
        peak = row.get('peak_mib')
        quartiles = f'({step["q1"] * 1e3:.0f}-{step["q3"] * 1e3:.0f})'
        peak_text = f'{peak:.0f}' if peak else '-'
        rise_text = f'{row["train_mib"]:.0f}' if row.get('train_mib') else '-'
        print(f'{row["config"][:45]:<46}{row["view"]:>5}{row["batch"]:>6}'
              f'{step["median"] * 1e3:>9.1f}{quartiles:>15}'
              f'{data["median"] * 1e3:>9.1f}{row["images_per_s"]:>8.1f}'
              f'{step["median"] / base["step_s"]["median"]:>7.2f}{row["gmacs_per_view"]:>7.2f}'
              f'{row["saved_activations_mib"]:>9.1f}'
              f'{peak_text:>10}{rise_text:>10}')
    print('act: tensors saved for the backward; peak: ' + rows[0].get('peak_kind', 'not measured')
          + ('; rise: of RSS over its training steps' if 'train_mib' in rows[0] else ''))
    if len(rows) > 1:
        ratio = rows[0]['step_s']['median'] / rows[1]['step_s']['median']
        print(f'step time {rows[0]["config"]} / {rows[1]["config"]}: {ratio:.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(environment=env, rows=rows), f, indent=1)
        print(f'figures written to {args.json}')


if __name__ == '__main__':
    run_tool(main)
