"""Run the benchmark rows of docs/en/benchmarks.md and print them as Markdown tables.

Every row is one ``benchmark_train.py`` run (a fresh process, ``--json``), so
each figure in the docs comes with the command that measured it:

* ``pairs``: each method against its mmpretrain baseline at the same batch
  (MaskCo / MoCo v2, DetCon_S / SimCLR, DetCon_B / BYOL, ccMIM / MAE,
  NNCLR / SimCLR, DINO / BYOL, DiLo-MoCo / MoCo v2, LooC / MoCo v2);
* ``fast``: each fast path against the same config without it;
* ``scaling``: one knob of a small config varied (batch, view size, boxes,
  masks, queue length) through ``--cfg-options``, against its first value;
* ``full``: the pairs at ResNet-50 / ViT-B and 224 px (use a GPU; on a CPU
  take a small ``--full-batch``).

    python tools/analysis_tools/benchmark_suite.py pairs fast scaling \
        --out work_dirs/benchmarks
    python tools/analysis_tools/benchmark_suite.py full --full-batch 64 --amp   # a GPU
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import List

from mmssl_ext.analysis.suite import (FAST, FULL_PAIRS, PAIRS, SCALING, scaling_markdown,
                                      table_markdown)
from mmssl_ext.utils.tool_errors import InputError, run_tool

TOOL = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_train.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('groups', nargs='+', choices=['pairs', 'fast', 'scaling', 'full'])
    parser.add_argument('--out', default='work_dirs/benchmarks', help='JSON per row')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--full-batch', type=int, default=8)
    parser.add_argument('--full-iters', type=int, default=4)
    parser.add_argument('--amp', action='store_true', help='full pairs with AMP (a GPU)')
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--report-only', action='store_true',
                        help='print the tables from the JSON files of an earlier run')
    return parser.parse_args()


def run(args: argparse.Namespace, name: str, tool_args: List[str]) -> dict:
    out = osp.join(args.out, f'{name}.json')
    command = [sys.executable, TOOL, *tool_args, '--data-root', args.data_root, '--json', out]
    shown = 'python tools/analysis_tools/benchmark_train.py ' + ' '.join(
        shlex.quote(a) for a in tool_args)
    if not args.report_only:
        print(f'$ {shown}', flush=True)
        proc = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines()
                      if 'Error' in line or line.startswith('benchmark_train.py: ')]
            print(proc.stderr[-3000:])
            print(f'{name} FAILED: {errors[-1] if errors else "see above"}', flush=True)
            return dict(failed=errors[-1] if errors else 'failed', shown_command=shown)
    with open(out) as f:
        figures = json.load(f)
    figures['shown_command'] = shown
    return figures


FAILED_ROWS: List[dict] = []


def table(title: str, results: List[dict]) -> None:
    FAILED_ROWS.extend(r for r in results if 'failed' in r)
    print(table_markdown(title, results))


def main() -> None:
    args = parse_args()
    if 'pairs' in args.groups and not args.report_only and not osp.isfile(
            osp.join(args.data_root, 'annotations', 'instances_train.json')):
        # The pairs train on the scenes; the other groups make their batches in memory.
        raise InputError(args.data_root, 'holds no synthetic scenes (annotations/'
                         'instances_train.json)', 'run python tools/misc/make_synthetic_scenes.py '
                         f'{args.data_root} (or make demo), or point --data-root at them')
    os.makedirs(args.out, exist_ok=True)
    common = ['--iters', str(args.iters), '--warmup', str(args.warmup)]
    if 'pairs' in args.groups:
        table('Methods against their baselines (small configs)', [
            run(args, f'pair_{osp.basename(m)[:-3]}', [m, '--baseline', b, *common])
            for m, b in PAIRS])
    if 'fast' in args.groups:
        table('Fast paths (each against the same config without it)', [
            run(args, f'fast_{osp.basename(c)[:-3]}{flag}',
                [c, '--baseline', c, flag, '--synthetic-data', *common]) for c, flag in FAST])
    if 'scaling' in args.groups:
        for knob, config, key, values in SCALING:
            results = [run(args, f'scaling_{knob.replace(" ", "-")}_{value}',
                           [config, '--baseline', config, '--cfg-options', f'{key}={value}',
                            '--baseline-cfg-options', f'{key}={values[0]}', '--synthetic-data',
                            *common])
                       for value in values[1:]]
            print(scaling_markdown(knob, key, config, values, results))
    if 'full' in args.groups:
        full = ['--batch', str(args.full_batch), '--iters', str(args.full_iters), '--warmup', '1',
                '--synthetic-data', *(['--amp', '--on-both'] if args.amp else [])]
        table('Methods against their baselines, ResNet-50 / ViT-B, 224 px', [
            run(args, f'full_{osp.basename(m)[:-3]}', [m, '--baseline', b, *full])
            for m, b in FULL_PAIRS])
    if FAILED_ROWS:
        first = FAILED_ROWS[0]
        reason = first['failed'].strip().splitlines()[-1][:300] if first['failed'].strip() \
            else 'failed'
        raise SystemExit(f'benchmark_suite.py: {len(FAILED_ROWS)} row(s) failed (listed above); '
                         f'the first, `{first["shown_command"]}`: {reason}')


if __name__ == '__main__':
    run_tool(main)
