"""Training step time of several configs at the same batch, in one run.

Each config's own train pipeline makes one batch from the same images (the
embedded synthetic scenes by default); the timed step is the model's real
``train_step`` (data preprocessor, forward, backward, optimizer step, momentum
update, queue), data loading excluded. The first config is the baseline.

    # MaskCo vs mmpretrain's MoCo v2, ResNet-50 at 224 px (use a GPU):
    python tools/analysis_tools/benchmark_step_time.py \
        configs/mocov2/mocov2_r50_8xb32_coco.py configs/maskco/r50_8xb32_coco.py \
        --batch 32
    # the CPU variants (ResNet-18, 64 px):
    python tools/analysis_tools/benchmark_step_time.py \
        configs/mocov2/mocov2_r18_1xb32-600i_synthetic.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py --batch 32 --iters 10

Prints, per config: the median step time, images/s, the ratio to the
baseline, the encoder's MACs per view (backbone, plus the MPH for MaskCo) and,
on CUDA, the peak memory.
"""
import argparse
import os.path as osp
import statistics
import time
from typing import List

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmssl_ext.registry import DATASETS, MODELS
from mmssl_ext.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='configs; the first is the baseline')
    parser.add_argument('--batch', type=int, default=32, help='images per step')
    parser.add_argument('--iters', type=int, default=20, help='timed steps per config')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps first')
    parser.add_argument('--data-root', default='data/synthetic_scenes',
                        help='a synthetic-scenes tree (tools/misc/make_synthetic_scenes.py) '
                        'whose train images feed every config')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every config, key=value')
    return parser.parse_args()


class _Encoder(nn.Module):
    """backbone (+ neck when it maps feature maps, as MaskCo's MPH) for MAC counting."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.mph = model.neck if type(model).__name__ == 'MaskCo' else None

    def forward(self, x: torch.Tensor):
        out = self.backbone(x)
        return self.mph(out) if self.mph is not None else out


def encoder_macs(model: nn.Module, size: int) -> float:
    """Multiply-accumulates of the encoder on one (1, 3, size, size) view."""
    from mmengine.analysis import get_model_complexity_info
    was_training = model.training
    info = get_model_complexity_info(_Encoder(model).eval(),
                                     inputs=(torch.zeros(1, 3, size, size), ),
                                     show_table=False, show_arch=False)
    model.train(was_training)
    return float(info['flops'])  # fvcore-style counting: one MAC counts as one "flop"


def one_batch(cfg: Config, data_root: str, batch: int) -> dict:
    """A collated batch made by the config's own train pipeline."""
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(type='COCOImageDataset', data_root=data_root,
                       ann_file='annotations/instances_train.json',
                       data_prefix=dict(img_path='images/train/'))
    for key in ('indices', 'serialize_data'):
        dataset_cfg.pop(key, None)
    dataset = DATASETS.build(dataset_cfg)
    return default_collate([dataset[i % len(dataset)] for i in range(batch)])


def view_size(data: dict) -> int:
    return int(data['inputs'][0].shape[-1])


def benchmark(cfg: Config, data: dict, device: str, iters: int, warmup: int) -> List[float]:
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
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


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    if not osp.isfile(osp.join(args.data_root, 'annotations', 'instances_train.json')):
        raise SystemExit(f'no synthetic scenes in {args.data_root}: run '
                         'python tools/misc/make_synthetic_scenes.py first (or make demo)')
    rows = []
    for path in args.configs:
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmssl_ext'))
        # A queue must hold a whole number of batches.
        if 'queue_len' in cfg.model:
            cfg.model.queue_len = max(cfg.model.queue_len // args.batch, 1) * args.batch
        data = one_batch(cfg, args.data_root, args.batch)
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        times = benchmark(cfg, data, args.device, args.iters, args.warmup)
        model = MODELS.build(cfg.model)
        macs = encoder_macs(model, view_size(data))
        peak = (torch.cuda.max_memory_allocated() / 2**30
                if args.device.startswith('cuda') else float('nan'))
        rows.append((osp.basename(path), statistics.median(times), macs, peak,
                     view_size(data)))
        print(f'  measured {osp.basename(path)}: {len(times)} steps', flush=True)

    base_time, base_macs = rows[0][1], rows[0][2]
    print(f'\ndevice {args.device}, batch {args.batch}, {args.iters} timed steps '
          f'after {args.warmup} warm-up, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'{"config":<48}{"view":>6}{"ms/step":>10}{"img/s":>8}{"x base":>8}'
          f'{"GMACs/view":>12}{"x base":>8}{"peak GiB":>10}')
    for name, t, macs, peak, size in rows:
        print(f'{name:<48}{size:>6}{t * 1e3:>10.1f}{args.batch / t:>8.1f}{t / base_time:>8.2f}'
              f'{macs / 1e9:>12.3f}{macs / base_macs:>8.2f}{peak:>10.2f}')


if __name__ == '__main__':
    main()
