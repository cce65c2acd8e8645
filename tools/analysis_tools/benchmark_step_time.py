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

    # DetCon vs mmpretrain's SimCLR / BYOL (mmpretrain:: configs are read from
    # the installed mmpretrain; FH masks of the synthetic scenes are computed
    # on the fly when missing):
    python tools/analysis_tools/benchmark_step_time.py \
        mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py \
        configs/detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py --batch 16

Prints, per config: the median step time, images/s, the ratio to the
baseline, the encoder's MACs per view (backbone, plus the MPH for MaskCo) and,
on CUDA, the peak memory. On the CPU, SyncBN layers become BN (BN1d in the
MLP heads), since SyncBN needs a GPU process group.
"""
import argparse
import os.path as osp
import statistics
import time
from typing import Callable, List, Optional

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
    parser.add_argument('--pairs', action='store_true',
                        help='configs are (baseline, method) pairs: each method is compared '
                        'with the config before it, not with the first')
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


def load_config(path: str) -> Config:
    """A config file, or ``package::path`` of an installed OpenMMLab package."""
    if '::' in path:
        from mmengine.hub import get_config
        return get_config(path)
    return Config.fromfile(path)


def cpu_norms(cfg, in_mlp: bool = False) -> None:
    """Replace SyncBN (GPU only) in a model config: BN in the backbone, BN1d in
    the MLPs (necks, predictors, heads), which see (N, C) inputs."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            mlp = in_mlp or key in ('neck', 'predictor', 'head', 'projector')
            if key == 'norm_cfg' and isinstance(value, dict) and value.get('type') == 'SyncBN':
                value['type'] = 'BN1d' if in_mlp else 'BN'
            else:
                cpu_norms(value, mlp)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            cpu_norms(value, in_mlp)


def one_batch(cfg: Config, data_root: str, batch: int) -> dict:
    """A collated batch made by the config's own train pipeline."""
    dataset_cfg = cfg.train_dataloader.dataset
    for step in dataset_cfg.pipeline:
        if step.get('type') == 'LoadFHMasks':  # the synthetic scenes' masks
            step.update(mask_dir=osp.join(data_root, 'fh_masks', 'train'),
                        img_dir=osp.join(data_root, 'images', 'train'), online=True,
                        online_scale=200)
    dataset_cfg.update(type='COCOImageDataset', data_root=data_root,
                       ann_file='annotations/instances_train.json',
                       data_prefix=dict(img_path='images/train/'))
    for key in ('indices', 'serialize_data', 'with_label', 'split'):
        dataset_cfg.pop(key, None)
    dataset = DATASETS.build(dataset_cfg)
    return default_collate([dataset[i % len(dataset)] for i in range(batch)])


def view_size(data: dict) -> int:
    return int(data['inputs'][0].shape[-1])


def build_for_training(cfg: Config, device: str,
                       patch: Optional[Callable[[nn.Module], None]] = None):
    """The config's model (seeded init, ``patch`` applied, train mode) and its
    optimizer wrapper."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    if patch is not None:
        patch(model)
    model.train()
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def benchmark(cfg: Config, data: dict, device: str, iters: int, warmup: int,
              patch: Optional[Callable[[nn.Module], None]] = None) -> List[float]:
    """Seconds of each timed ``train_step``; ``patch`` may alter the built model."""
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


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    # mmpretrain's CosineEMA (BYOL, DetCon_B) reads the run length from here.
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('max_iters', 1_000_000)
    if args.pairs and len(args.configs) % 2:
        raise SystemExit('--pairs needs an even number of configs: baseline, method, ...')
    if not osp.isfile(osp.join(args.data_root, 'annotations', 'instances_train.json')):
        raise SystemExit(f'no synthetic scenes in {args.data_root}: run '
                         'python tools/misc/make_synthetic_scenes.py first (or make demo)')
    rows = []
    for path in args.configs:
        cfg = load_config(path)
        if args.device == 'cpu':
            cpu_norms(cfg.model)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        # Our registries are children of mmpretrain's: both kinds of config build.
        init_default_scope('mmssl_ext')
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

    print(f'\ndevice {args.device}, batch {args.batch}, {args.iters} timed steps '
          f'after {args.warmup} warm-up, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'{"config":<48}{"view":>6}{"ms/step":>10}{"img/s":>8}{"x base":>8}'
          f'{"GMACs/view":>12}{"x base":>8}{"peak GiB":>10}')
    for i, (name, t, macs, peak, size) in enumerate(rows):
        base = rows[i - i % 2] if args.pairs else rows[0]
        base_time, base_macs = base[1], base[2]
        print(f'{name:<48}{size:>6}{t * 1e3:>10.1f}{args.batch / t:>8.1f}{t / base_time:>8.2f}'
              f'{macs / 1e9:>12.3f}{macs / base_macs:>8.2f}{peak:>10.2f}')


if __name__ == '__main__':
    main()
