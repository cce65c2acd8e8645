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

from mmssl_ext.utils.tool_errors import InputError, run_tool

TOOL = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_train.py')
MOCO = 'configs/mocov2/mocov2_r18_1xb32-600i_synthetic.py'
MASKCO = 'configs/maskco/maskco_r18_1xb32-600i_synthetic.py'
SIMCLR = 'configs/simclr/simclr_r18_1xb32-600i_synthetic.py'
DETCON_S = 'configs/detcon/detcon-s_r18_1xb32-600i_synthetic.py'
BYOL = 'configs/byol/byol_r18_1xb32-600i_synthetic.py'
DETCON_B = 'configs/detcon/detcon-b_r18_1xb32-600i_synthetic.py'
MAE = 'configs/mae/mae_vit-tiny-p8_1xb32-600i_synthetic.py'
CCMIM = 'configs/ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'
NNCLR = 'configs/nnclr/nnclr_r18_1xb32-600i_synthetic.py'
DINO = 'configs/dino/dino_r18_1xb32-600i_synthetic.py'
DILO = 'configs/dilo/dilo-mocov2_r18_1xb32-600i_synthetic.py'
LOOC = 'configs/looc/looc_r18_1xb32-600i_synthetic.py'

# NNCLR is SimCLR with nearest-neighbour positives and a predictor; DINO is the
# negative-free momentum-teacher method, like BYOL, plus multi-crop. DiLo is
# MoCo v2 with other views: its cost is in the data pipeline. LooC is MoCo v2
# with 3 keys and 3 heads.
PAIRS = [(MASKCO, MOCO), (DETCON_S, SIMCLR), (DETCON_B, BYOL), (CCMIM, MAE), (NNCLR, SIMCLR),
         (DINO, BYOL), (DILO, MOCO), (LOOC, MOCO)]
FULL_PAIRS = [
    ('configs/maskco/r50_8xb32_coco.py', 'configs/mocov2/mocov2_r50_8xb32-500k_coco.py'),
    ('configs/detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py',
     'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py'),
    ('configs/detcon/detcon-b_r50_16xb256-coslr-1296e_coco.py',
     'mmpretrain::byol/byol_resnet50_16xb256-coslr-200e_in1k.py'),
    ('configs/ccmim/ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py',
     'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'),
]
# mmengine's compile=True (the whole train_step) fails for these models on torch
# 2.13: see docs/en/benchmarks.md; CompileModulesHook compiles the networks.
FAST = [(MOCO, '--channels-last'), (MASKCO, '--channels-last'), (MOCO, '--with-cp'),
        (CCMIM, '--with-cp'), (DETCON_S, '--compile-modules=backbone'),
        (MOCO, '--compile-modules=backbone')]
SCALING = [
    ('batch', MASKCO, 'train_dataloader.batch_size', [16, 32, 64]),
    ('view px', MASKCO, 'train_dataloader.dataset.pipeline.1.size', [64, 96, 128]),
    ('boxes per image', MASKCO, 'train_dataloader.dataset.pipeline.1.num_boxes', [9, 17, 33]),
    ('masks per view', DETCON_S, 'model.num_samples', [4, 16, 32]),
    ('queue length', MOCO, 'model.queue_len', [256, 4096, 65536]),
]


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


def fmt_row(label: str, row: dict, base: dict) -> str:
    step = row['step_s']
    peak = row.get('peak_mib')
    rise = row.get('train_mib')
    ratio = step['median'] / base['step_s']['median']
    return (f'| {label} | {row["view"]} | {row["batch"]} | {step["median"] * 1e3:.0f} '
            f'({step["q1"] * 1e3:.0f}-{step["q3"] * 1e3:.0f}) | '
            f'{row["data_s"]["median"] * 1e3:.1f} | {row["images_per_s"]:.1f} | **{ratio:.2f}** | '
            f'{row["gmacs_per_view"]:.3g} | {row["saved_activations_mib"]:.0f} | '
            f'{f"{peak:.0f}" if peak else "-"} | {f"{rise:.0f}" if rise else "-"} |')


HEADER = ('| config | view | batch | step ms (q1-q3) | data ms | img/s | x ref | GMACs/view | '
          'act MiB | peak MiB | rise MiB |\n|---|---|---|---|---|---|---|---|---|---|---|')


FAILED_ROWS: List[dict] = []


def table(title: str, results: List[dict]) -> None:
    failed = [r for r in results if 'failed' in r]
    FAILED_ROWS.extend(failed)
    results = [r for r in results if 'failed' not in r]
    if not results:
        print(f'\n### {title}\n\nevery row failed')
        return
    env = results[0]['environment']
    print(f'\n### {title}\n\n{env["device"]} ({env.get("gpu", env["cpu"])}, '
          f'{env["threads"]} threads), torch {env["torch"]}\n')
    print(HEADER)
    for figures in results:
        rows = figures['rows']
        base = rows[-1]
        for row in rows:
            label = ' '.join([row['config'], *(f'{k}={v}' for k, v in row['options'].items())])
            print(fmt_row(label, row, base))
    print('\nCommands:\n')
    for figures in results:
        print(f'    {figures["shown_command"]}')
    for figures in failed:
        print(f'\nFailed: `{figures["shown_command"]}`: {figures["failed"][:300]}')


def scaling_table(knob: str, key: str, config: str, values: list, results: List[dict]) -> None:
    """One row per value of the knob; each ratio is to the reference value
    measured in the same run."""
    print(f'\n### {knob}: `{key}` of {osp.basename(config)}\n')
    print('| value | step ms (q1-q3) | x ref | img/s | act MiB | peak MiB | rise MiB |\n'
          '|---|---|---|---|---|---|---|')
    rows = [(values[0], results[0]['rows'][1], None)] + [
        (value, r['rows'][0], r['rows'][1]) for value, r in zip(values[1:], results)
        if 'failed' not in r]
    for value, row, ref in rows:
        step = row['step_s']
        ratio = step['median'] / ref['step_s']['median'] if ref else 1.0
        peak, rise = row.get('peak_mib'), row.get('train_mib')
        print(f'| {value} | {step["median"] * 1e3:.0f} ({step["q1"] * 1e3:.0f}-'
              f'{step["q3"] * 1e3:.0f}) | {ratio:.2f} | {row["images_per_s"]:.1f} | '
              f'{row["saved_activations_mib"]:.0f} | {f"{peak:.0f}" if peak else "-"} | '
              f'{f"{rise:.0f}" if rise else "-"} |')
    print(f'\n    {results[-1]["shown_command"]}')


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
            scaling_table(knob, key, config, values, results)
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
