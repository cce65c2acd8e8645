"""ccMIM's step time and peak memory against mmpretrain's MAE, with the analytic ratio.

One run, the same batch (the config's own pipeline on the embedded synthetic
scenes), the real ``train_step`` of:

* ``mae``: mmpretrain's MAE with ccMIM's encoder, decoder and head (same
  weights shapes, random masking): the baseline;
* ``ccmim``: the config as it is;
* ``ccmim/graph-masked``: ``model.masked_set_graph=True``, the masked set
  encoded *with* a graph, the key then detached (as the official code does:
  its gather has no gradient). Same maths; shows what running that branch
  without a graph saves;
* ``ccmim/full-attention``: ``model.backbone.full_attention_importance=True``,
  the importance pass forming each layer's full attention matrix and running
  every layer (as the official code's blocks do), instead of the CLS query
  alone and no last-layer forward. Same scores.

The variants are options of the real ``CCMIM`` and ``ImportanceMaskingViT``
(``tests/test_benchmarks.py`` checks that they give the same losses and
gradients), so what is timed is the model that trains.

Columns: median step time; the activation memory autograd keeps for the
backward (measured on any device by a saved-tensors hook); on CUDA, the peak
allocated memory.

The analytic ratio counts multiply-accumulates of the transformer layers
(12 n D^2 + 2 n^2 D per layer for n tokens of width D): MAE's step is about
3x (forward + backward) of the encoder on the K + 1 visible tokens plus the
decoder on N + 1; ccMIM adds a no-grad forward on all N + 1 tokens (its last
layer skipped) and one on the N - K + 1 masked tokens. At ViT-B/16, 224 px:
about 2.0x.

    # ViT-B/16 at 224 px (use a GPU; on 2 CPU cores take --batch 4 --iters 3):
    python tools/analysis_tools/benchmark_ccmim.py \
        configs/ccmim/ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py --batch 64
    # the small CPU config:
    python tools/analysis_tools/benchmark_ccmim.py \
        configs/ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py --batch 32
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import time
from typing import Dict, List

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmssl_ext import register_all_modules
from mmssl_ext.analysis.benchmark import (build_for_training, count_saved_activations, cpu_norms,
                                          one_batch)
from mmssl_ext.utils.tool_errors import load_config, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a ccMIM config')
    parser.add_argument('--batch', type=int, default=32, help='images per step')
    parser.add_argument('--iters', type=int, default=10, help='timed steps per variant')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    parser.add_argument('--data-root', default='data/synthetic_scenes',
                        help='a synthetic-scenes tree (tools/misc/make_synthetic_scenes.py)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of the ccMIM config, key=value')
    parser.add_argument('--json', help='write the rows here')
    return parser.parse_args()


def mae_config(cfg: Config) -> Config:
    """mmpretrain's MAE with the ccMIM config's backbone, decoder and head."""
    mae = copy.deepcopy(cfg)
    backbone = dict(mae.model.backbone, type='mmpretrain.MAEViT')
    for key in ('strategy', 'temperature'):
        backbone.pop(key, None)
    mae.model = dict(type='mmpretrain.MAE', backbone=backbone, neck=mae.model.neck,
                     head=mae.model.head, init_cfg=mae.model.get('init_cfg'))
    return mae


def with_options(cfg: Config, options: dict) -> Config:
    """A copy of ``cfg`` with ``--cfg-options``-style overrides."""
    variant = copy.deepcopy(cfg)
    variant.merge_from_dict(options)
    return variant


def layer_macs(tokens: int, width: int, layers: int) -> float:
    """MACs of ``layers`` transformer layers (MLP ratio 4) on ``tokens`` tokens."""
    return layers * (12 * tokens * width ** 2 + 2 * tokens ** 2 * width)


def analytic_ratio(cfg: Config) -> float:
    """ccMIM step MACs / MAE step MACs, transformer layers only."""
    from mmssl_ext.registry import MODELS
    backbone = MODELS.build(cfg.model.backbone)
    n = backbone.patch_resolution[0] * backbone.patch_resolution[1]
    k = int(round(n * (1 - backbone.mask_ratio)))
    d, layers = backbone.embed_dims, backbone.num_layers
    neck = cfg.model.neck
    decoder = layer_macs(n + 1, neck.decoder_embed_dim, neck.decoder_depth)
    mae = 3 * (layer_macs(k + 1, d, layers) + decoder)
    extra = layer_macs(n + 1, d, layers - 1) + layer_macs(n - k + 1, d, layers)
    return (mae + extra) / mae


def benchmark(cfg: Config, data: dict, device: str, iters: int, warmup: int) -> list:
    """Seconds of each timed ``train_step`` on ``data``."""
    model, optim_wrapper = build_for_training(cfg, device)
    times = []
    for step in range(warmup + iters):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.train_step(data, optim_wrapper)
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def saved_activation_bytes(cfg: Config, data: dict, device: str) -> int:
    """Bytes of the tensors autograd saves for the backward of one training step."""
    model, optim_wrapper = build_for_training(cfg, device)
    with count_saved_activations() as storages:
        model.train_step(data, optim_wrapper)
    return sum(storages.values())


def measure(cfg: Config, data: dict, device: str, iters: int, warmup: int) -> List[Dict]:
    """A row per variant (MAE, ccMIM and ccMIM's two same-maths variants):
    median step seconds, activation MiB saved for the backward, CUDA peak GiB
    (None on the CPU)."""
    variants = [('mae', mae_config(cfg)), ('ccmim', cfg),
                ('ccmim/graph-masked', with_options(cfg, {'model.masked_set_graph': True})),
                ('ccmim/full-attention',
                 with_options(cfg, {'model.backbone.full_attention_importance': True}))]
    rows = []
    for name, variant_cfg in variants:
        if device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        times = benchmark(variant_cfg, data, device, iters, warmup)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith('cuda') else None
        saved = saved_activation_bytes(variant_cfg, data, device)
        rows.append(dict(variant=name, step_s=statistics.median(times), peak_gib=peak,
                         saved_mib=saved / 2**20))
        print(f'  measured {name}: {len(times)} steps', flush=True)
    return rows


def main() -> List[Dict]:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    if not osp.isfile(osp.join(args.data_root, 'annotations', 'instances_train.json')):
        raise SystemExit(f'no synthetic scenes in {args.data_root}: run '
                         'python tools/misc/make_synthetic_scenes.py first (or make demo)')
    cfg = load_config(args.config)
    if cfg.model.get('type') != 'CCMIM':
        raise SystemExit(f'{args.config} is not a ccMIM config (model type '
                         f'{cfg.model.get("type")!r})')
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.device == 'cpu':
        cpu_norms(cfg.model)
        # AMP needs a GPU: plain fp32 steps on the CPU.
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer)
    # Both models see this batch (ccMIM's pipeline: one view).
    data = one_batch(copy.deepcopy(cfg), args.data_root, args.batch)

    rows = measure(cfg, data, args.device, args.iters, args.warmup)
    mae = rows[0]
    for row in rows:
        row.update(images_per_s=args.batch / row['step_s'],
                   step_x_mae=row['step_s'] / mae['step_s'],
                   saved_x_mae=row['saved_mib'] / mae['saved_mib'])
    size = int(data['inputs'][0].shape[-1])
    print(f'\n{osp.basename(args.config)}: {size} px, batch {args.batch}, device '
          f'{args.device}, {args.iters} timed steps after {args.warmup} warm-up, torch '
          f'{torch.__version__}, {torch.get_num_threads()} threads')
    print(f'{"variant":<24}{"ms/step":>10}{"img/s":>8}{"x MAE":>8}{"saved MiB":>11}'
          f'{"x MAE":>8}{"peak GiB":>10}')
    for row in rows:
        peak = '-' if row['peak_gib'] is None else f'{row["peak_gib"]:.2f}'
        print(f'{row["variant"]:<24}{row["step_s"] * 1e3:>10.1f}{row["images_per_s"]:>8.1f}'
              f'{row["step_x_mae"]:>8.2f}{row["saved_mib"]:>11.1f}{row["saved_x_mae"]:>8.2f}'
              f'{peak:>10}')
    analytic = analytic_ratio(cfg)
    measured = rows[1]['step_x_mae']
    print(f'analytic ccMIM / MAE (transformer MACs): {analytic:.2f}x; measured {measured:.2f}x '
          f'= {measured / analytic:.2f} of the analytic estimate')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, batch=args.batch, device=args.device,
                           analytic_ratio=analytic, rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    run_tool(main)
