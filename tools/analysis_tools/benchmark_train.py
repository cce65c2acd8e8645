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
import json
import sys
from typing import List, Optional

import torch
from mmengine.config import DictAction

from mmssl_ext.analysis.benchmark import TrainBenchmarkSettings, machine, measure_training
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
    return parser.parse_args(argv)


def settings_of(args: argparse.Namespace) -> TrainBenchmarkSettings:
    return TrainBenchmarkSettings(
        device=args.device, batch=args.batch, warmup=args.warmup, iters=args.iters,
        synthetic_data=args.synthetic_data, data_root=args.data_root, own_data=args.own_data,
        workers=args.workers, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, compile_modules=args.compile_modules, with_cp=args.with_cp,
        memory=not args.no_memory)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    rows = measure_training(args.config, settings_of(args), args.cfg_options, args.baseline,
                            args.baseline_cfg_options, args.on_both,
                            progress=lambda line: print(line, flush=True))
    report(rows, args)
    return rows


def report(rows: List[dict], args: argparse.Namespace) -> None:
    """The rows as a table (and as JSON with ``--json``)."""
    env = dict(machine(args.device), command='python tools/analysis_tools/benchmark_train.py '
               + ' '.join(sys.argv[1:]))
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
