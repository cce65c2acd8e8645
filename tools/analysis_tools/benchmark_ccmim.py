"""ccMIM's step time and peak memory against mmpretrain's MAE, with the analytic ratio.

One run, the same batch (the config's own pipeline on the embedded synthetic
scenes), the real ``train_step`` of:

* ``mae``: mmpretrain's MAE with ccMIM's encoder, decoder and head (same
  weights shapes, random masking): the baseline;
* ``ccmim``: the config as it is;
* ``ccmim/graph-masked``: the masked set encoded *with* a graph, the key then
  detached (as the official code does: its gather has no gradient). Same
  maths; shows what running that branch without a graph saves;
* ``ccmim/full-attention``: the importance pass forming each layer's full
  attention matrix and running every layer (as the official code's blocks do),
  instead of the CLS query alone and no last-layer forward. Same scores.

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
import os.path as osp
import statistics
import time
import types

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmssl_ext.utils import register_all_modules
from mmssl_ext.utils.benchmark import (build_for_training, count_saved_activations, cpu_norms,
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


def _graph_masked_loss(self, inputs, data_samples, **kwargs):
    """CCMIM.loss with the masked set encoded with a graph, its key detached."""
    keep, masked, ids_restore, mask = self.backbone.divide(inputs)
    tokens = self.backbone.patch_tokens(inputs)
    visible = self.backbone.encode_set(tokens, keep)
    loss_rec = self.head.loss(self.neck(visible, ids_restore), inputs, mask)
    key = self._project(self.backbone.encode_set(tokens, masked)[:, 0]).detach()
    query = self._project(visible[:, 0])
    contrast = self.criterion(query, key)
    return dict(loss_rec=loss_rec, loss_contrast=self.contrast_weight * contrast)


@torch.no_grad()
def _full_attention_importance(self, images):
    """The same scores from each layer's full attention matrix, every layer run."""
    x = self._with_cls(self.patch_tokens(images))
    scores = x.new_zeros(x.shape[0], x.shape[1] - 1)
    for layer in self.layers:
        h = layer.ln1(x)
        b, n, _ = h.shape
        attn = layer.attn
        qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dims).permute(2, 0, 3, 1, 4)
        full = (qkv[0] @ qkv[1].transpose(-2, -1) * attn.head_dims ** -0.5).softmax(-1)
        scores += full[:, :, 0, 1:].mean(1)
        x = layer(x)
    return scores


def benchmark(cfg: Config, data: dict, device: str, iters: int, warmup: int,
              patch=None) -> list:
    """Seconds of each timed ``train_step`` on ``data``; ``patch`` may alter the model."""
    model, optim_wrapper = build_for_training(cfg, device, patch)
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


def saved_activation_bytes(cfg: Config, data: dict, device: str, patch=None) -> int:
    """Bytes of the tensors autograd saves for the backward of one training step."""
    model, optim_wrapper = build_for_training(cfg, device, patch)
    with count_saved_activations() as storages:
        model.train_step(data, optim_wrapper)
    return sum(storages.values())


def main() -> None:
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

    variants = [('mae', mae_config(cfg), None), ('ccmim', cfg, None),
                ('ccmim/graph-masked', cfg, ('loss', _graph_masked_loss)),
                ('ccmim/full-attention', cfg, ('importance', _full_attention_importance))]
    rows = []
    for name, variant_cfg, patch in variants:
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        times = benchmark(variant_cfg, data, args.device, args.iters, args.warmup,
                          patch=_patcher(patch))
        peak = (torch.cuda.max_memory_allocated() / 2**30
                if args.device.startswith('cuda') else float('nan'))
        saved = saved_activation_bytes(variant_cfg, data, args.device, _patcher(patch))
        rows.append((name, statistics.median(times), peak, saved / 2**20))
        print(f'  measured {name}: {len(times)} steps', flush=True)

    size = int(data['inputs'][0].shape[-1])
    print(f'\n{osp.basename(args.config)}: {size} px, batch {args.batch}, device '
          f'{args.device}, {args.iters} timed steps after {args.warmup} warm-up, torch '
          f'{torch.__version__}, {torch.get_num_threads()} threads')
    print(f'{"variant":<24}{"ms/step":>10}{"img/s":>8}{"x MAE":>8}{"saved MiB":>11}'
          f'{"x MAE":>8}{"peak GiB":>10}')
    for name, t, peak, saved in rows:
        print(f'{name:<24}{t * 1e3:>10.1f}{args.batch / t:>8.1f}{t / rows[0][1]:>8.2f}'
              f'{saved:>11.1f}{saved / rows[0][3]:>8.2f}{peak:>10.2f}')
    analytic = analytic_ratio(cfg)
    measured = rows[1][1] / rows[0][1]
    print(f'analytic ccMIM / MAE (transformer MACs): {analytic:.2f}x; measured {measured:.2f}x '
          f'= {measured / analytic:.2f} of the analytic estimate')


def _patcher(patch):
    """A function applying a variant's method replacement to a built model."""
    if patch is None:
        return None
    attr, function = patch

    def apply(model):
        target = model.backbone if attr == 'importance' else model
        setattr(target, attr, types.MethodType(function, target))
    return apply


if __name__ == '__main__':
    run_tool(main)
