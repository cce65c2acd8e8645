"""The README's demo: pretrain on the embedded synthetic scenes, then probe.

    python tools/misc/demo.py [--data-root data/synthetic_scenes] [--iters 600]

1. makes the synthetic scenes if missing (tools/misc/make_synthetic_scenes.py);
2. pretrains the small config with mmengine's Runner (progress in the log);
3. prints a summary of the loss curve;
4. probes frozen backbone features of ground-truth object crops (kNN and
   linear, train split -> val split), pretrained vs randomly initialised.
"""
import argparse
import copy
import glob
import json
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmssl_ext  # noqa: F401
from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate, is_generated
from mmssl_ext.evaluation import (extract_features, knn_accuracy, linear_probe_accuracy,
                                  load_object_crops)
from mmssl_ext.registry import MODELS

DEFAULT_CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mocov2',
                          'mocov2_r18_1xb32-600i_synthetic.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='pretrain + probe demo')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, default=None, help='override max_iters')
    parser.add_argument('--probe-size', type=int, default=64, help='object crop side, px')
    parser.add_argument('--reuse', action='store_true',
                        help='skip training and probe the finished run in the work dir')
    return parser.parse_args()


def say(msg: str) -> None:
    print(f'\033[1m[demo]\033[0m {msg}', flush=True)


def loss_summary(work_dir: str) -> str:
    """Mean loss over the first, middle and last tenth of the logged iterations."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        return 'no loss log found'
    records = [json.loads(line) for line in open(logs[-1]) if '"loss"' in line]
    losses = np.array([r['loss'] for r in records])
    iters = [r['iter'] for r in records]
    tenth = max(len(losses) // 10, 1)
    mid = len(losses) // 2
    return (f'loss over {iters[0]}..{iters[-1]} it: first {losses[:tenth].mean():.3f}, '
            f'middle {losses[mid - tenth // 2:mid + tenth // 2 + 1].mean():.3f}, '
            f'last {losses[-tenth:].mean():.3f} (min {losses.min():.3f})')


def probe(cfg: Config, checkpoint: str, data_root: str, crop_size: int) -> dict:
    """kNN and linear accuracy of pretrained vs random-init backbone features.

    Both backbones are probed on conv4 and conv5 (ResNet stages 3 and 4,
    strides 16 and 32), as MaskCo reports both.

    Returns:
        ``{backbone: {stage: {'knn': %, 'linear': %}}}``.
    """
    ann = osp.join(data_root, 'annotations', 'instances_{}.json')
    img = osp.join(data_root, 'images', '{}')
    train_x, train_y = load_object_crops(ann.format('train'), img.format('train'), crop_size)
    val_x, val_y = load_object_crops(ann.format('val'), img.format('val'), crop_size)
    say(f'probe: {len(train_x)} train / {len(val_x)} val object crops of {crop_size} px, '
        f'{int(train_y.max()) + 1} classes')
    preprocess = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg.out_indices = (2, 3)
    results = {}
    for name in ('random init', 'pretrained'):
        torch.manual_seed(0)
        backbone = MODELS.build(backbone_cfg)
        backbone.init_weights()
        if name == 'pretrained':
            # Strict: a checkpoint whose backbone does not match must fail
            # here, not be probed as a half-random network.
            state = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
            backbone.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                                      if k.startswith('backbone.')}, strict=True)
        train_f = extract_features(backbone, train_x, preprocess['mean'], preprocess['std'])
        val_f = extract_features(backbone, val_x, preprocess['mean'], preprocess['std'])
        results[name] = {
            stage: dict(knn=knn_accuracy(ftr, train_y, fte, val_y),
                        linear=linear_probe_accuracy(ftr, train_y, fte, val_y))
            for stage, ftr, fte in zip(('conv4', 'conv5'), train_f, val_f)}
    return results


def main() -> None:
    args = parse_args()
    start = time.time()
    scenes = SceneConfig()
    say(f'step 1/4: synthetic scenes in {args.data_root}')
    if is_generated(args.data_root, scenes):
        say('  already there')
    else:
        generate(args.data_root, scenes)

    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(args.config)
    cfg.work_dir = osp.join(args.work_dir, osp.splitext(osp.basename(args.config))[0])
    cfg.train_dataloader.dataset.data_root = args.data_root
    if args.iters:
        cfg.train_cfg.max_iters = args.iters
        for scheduler in cfg.param_scheduler:
            if scheduler.get('end', 0) > args.iters or scheduler['type'] == 'CosineAnnealingLR':
                scheduler.end = args.iters
                if 'T_max' in scheduler:
                    scheduler.T_max = args.iters - scheduler.get('begin', 0)
    max_iters = cfg.train_cfg.max_iters
    final_ckpt = osp.join(cfg.work_dir, f'iter_{max_iters}.pth')
    say(f'step 2/4: pretrain {osp.basename(args.config)} for {max_iters} iterations '
        f'(work dir {cfg.work_dir})')
    if args.reuse and osp.isfile(final_ckpt):
        say(f'  --reuse: probing the finished run {final_ckpt}')
    else:
        Runner.from_cfg(cfg).train()

    say('step 3/4: ' + loss_summary(cfg.work_dir))
    say('step 4/4: frozen-feature probe on ground-truth object crops')
    results = probe(cfg, final_ckpt, args.data_root, args.probe_size)
    print()
    print(f'{"backbone":<14}{"stage":<7}{"kNN top-1":>11}{"linear top-1":>14}')
    for name, stages in results.items():
        for stage, acc in stages.items():
            print(f'{name:<14}{stage:<7}{acc["knn"]:>10.1f}%{acc["linear"]:>13.1f}%')
    for stage in ('conv4', 'conv5'):
        gain = {k: results['pretrained'][stage][k] - results['random init'][stage][k]
                for k in ('knn', 'linear')}
        print(f'{"gain":<14}{stage:<7}{gain["knn"]:>+10.1f}%{gain["linear"]:>+13.1f}%')
    print()
    say(f'done in {time.time() - start:.0f}s')


if __name__ == '__main__':
    main()
