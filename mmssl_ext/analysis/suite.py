"""The benchmark rows of ``docs/en/benchmarks.md``: which runs of
``benchmark_train.py`` make them, and their Markdown tables.

``tools/analysis_tools/benchmark_suite.py`` runs each row as a fresh process
and prints the tables these functions return. Config paths are relative to
the repository root, where the suite runs.
"""
import os.path as osp
from typing import List, Sequence, Tuple

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
DENSECL = 'configs/densecl/densecl_r18_1xb32-600i_synthetic.py'

# (method, its baseline). NNCLR is SimCLR with nearest-neighbour positives and
# a predictor; DINO is the negative-free momentum-teacher method, like BYOL,
# plus multi-crop. DiLo is MoCo v2 with other views: its cost is in the data
# pipeline. LooC is MoCo v2 with 3 keys and 3 heads. DenseCL (mmpretrain's, the
# region-level baseline) is MoCo v2 with a dense head and a second queue.
PAIRS = [(MASKCO, MOCO), (DETCON_S, SIMCLR), (DETCON_B, BYOL), (CCMIM, MAE), (NNCLR, SIMCLR),
         (DINO, BYOL), (DILO, MOCO), (LOOC, MOCO), (DENSECL, MOCO)]
FULL_PAIRS = [
    ('configs/maskco/r50_8xb32_coco.py', 'configs/mocov2/mocov2_r50_8xb32-500k_coco.py'),
    ('configs/detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py',
     'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py'),
    ('configs/detcon/detcon-b_r50_16xb256-coslr-1296e_coco.py',
     'mmpretrain::byol/byol_resnet50_16xb256-coslr-200e_in1k.py'),
    ('configs/ccmim/ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py',
     'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'),
]
# (config, the fast path's flag of benchmark_train.py). mmengine's compile=True
# (the whole train_step) fails for these models on torch 2.13: see
# docs/en/benchmarks.md; CompileModulesHook compiles the networks.
FAST = [(MOCO, '--channels-last'), (MASKCO, '--channels-last'), (MOCO, '--with-cp'),
        (CCMIM, '--with-cp'), (DETCON_S, '--compile-modules=backbone'),
        (MOCO, '--compile-modules=backbone')]
# (knob, config, the config key varied, its values: the first is the reference)
SCALING = [
    ('batch', MASKCO, 'train_dataloader.batch_size', [16, 32, 64]),
    ('view px', MASKCO, 'train_dataloader.dataset.pipeline.1.size', [64, 96, 128]),
    ('boxes per image', MASKCO, 'train_dataloader.dataset.pipeline.1.num_boxes', [9, 17, 33]),
    ('masks per view', DETCON_S, 'model.num_samples', [4, 16, 32]),
    ('queue length', MOCO, 'model.queue_len', [256, 4096, 65536]),
]

HEADER = ('| config | view | batch | step ms (q1-q3) | data ms | img/s | x ref | GMACs/view | '
          'act MiB | peak MiB | rise MiB |\n|---|---|---|---|---|---|---|---|---|---|---|')


def _mib(value) -> str:
    return f'{value:.0f}' if value else '-'


def row_markdown(label: str, row: dict, base: dict) -> str:
    """One table row of a ``benchmark_train.py`` row, its step time as a ratio
    to ``base`` (the reference row measured in the same run)."""
    step = row['step_s']
    ratio = step['median'] / base['step_s']['median']
    return (f'| {label} | {row["view"]} | {row["batch"]} | {step["median"] * 1e3:.0f} '
            f'({step["q1"] * 1e3:.0f}-{step["q3"] * 1e3:.0f}) | '
            f'{row["data_s"]["median"] * 1e3:.1f} | {row["images_per_s"]:.1f} | **{ratio:.2f}** | '
            f'{row["gmacs_per_view"]:.3g} | {row["saved_activations_mib"]:.0f} | '
            f'{_mib(row.get("peak_mib"))} | {_mib(row.get("train_mib"))} |')


def table_markdown(title: str, results: Sequence[dict]) -> str:
    """A section of rows, each against the last row of its run (the baseline),
    the commands that measured them and the runs that failed. ``results`` are
    ``benchmark_train.py --json`` figures with ``shown_command`` added, or
    ``dict(failed=REASON, shown_command=...)``."""
    failed = [r for r in results if 'failed' in r]
    measured = [r for r in results if 'failed' not in r]
    if not measured:
        return f'\n### {title}\n\nevery row failed'
    env = measured[0]['environment']
    lines = [f'\n### {title}\n\n{env["device"]} ({env.get("gpu", env["cpu"])}, '
             f'{env["threads"]} threads), torch {env["torch"]}\n', HEADER]
    for figures in measured:
        rows = figures['rows']
        for row in rows:
            label = ' '.join([row['config'], *(f'{k}={v}' for k, v in row['options'].items())])
            lines.append(row_markdown(label, row, rows[-1]))
    lines.append('\nCommands:\n')
    lines += [f'    {figures["shown_command"]}' for figures in measured]
    lines += [f'\nFailed: `{figures["shown_command"]}`: {figures["failed"][:300]}'
              for figures in failed]
    return '\n'.join(lines)


def scaling_markdown(knob: str, key: str, config: str, values: Sequence,
                     results: Sequence[dict]) -> str:
    """One row per value of the knob; ``results[i]`` is the run of
    ``values[i + 1]`` against ``values[0]``, so each ratio is to the reference
    value measured in the same run."""
    lines = [f'\n### {knob}: `{key}` of {osp.basename(config)}\n',
             '| value | step ms (q1-q3) | x ref | img/s | act MiB | peak MiB | rise MiB |\n'
             '|---|---|---|---|---|---|---|']
    rows: List[Tuple] = [(values[0], results[0]['rows'][1], None)] + [
        (value, r['rows'][0], r['rows'][1]) for value, r in zip(values[1:], results)
        if 'failed' not in r]
    for value, row, ref in rows:
        step = row['step_s']
        ratio = step['median'] / ref['step_s']['median'] if ref else 1.0
        lines.append(
            f'| {value} | {step["median"] * 1e3:.0f} ({step["q1"] * 1e3:.0f}-'
            f'{step["q3"] * 1e3:.0f}) | {ratio:.2f} | {row["images_per_s"]:.1f} | '
            f'{row["saved_activations_mib"]:.0f} | {_mib(row.get("peak_mib"))} | '
            f'{_mib(row.get("train_mib"))} |')
    lines.append(f'\n    {results[-1]["shown_command"]}')
    return '\n'.join(lines)
