"""The README's demo: pretrain on the embedded synthetic scenes, then probe.

    python tools/misc/demo.py [--data-root data/synthetic_scenes] [--iters 600]

1. makes the synthetic scenes if missing (tools/misc/make_synthetic_scenes.py);
2. pretrains each config with mmengine's Runner at the same budget (iterations,
   batch, view size): MaskCo and its baseline, mmpretrain's MoCo v2;
3. prints a summary of each loss curve;
4. probes frozen backbone features of ground-truth object crops (kNN and
   linear, train split -> val split): each pretrained backbone against the same
   backbone randomly initialised, every one with its BatchNorm statistics
   re-estimated on the train crops.
"""
import argparse
import copy
import glob
import json
import logging
import os.path as osp
import time
from typing import Dict, List

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmssl_ext  # noqa: F401
from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate, is_generated
from mmssl_ext.evaluation import (extract_features, knn_accuracy, linear_probe_accuracy,
                                  load_object_crops, reestimate_bn_statistics)
from mmssl_ext.registry import MODELS
from mmssl_ext.utils.tool_errors import load_config, run_tool

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs')
# The baseline first: every other run is compared with it at the same budget.
DEFAULT_CONFIGS = [
    osp.join(CONFIG_DIR, 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
    osp.join(CONFIG_DIR, 'maskco', 'maskco_r18_1xb32-600i_synthetic.py'),
]
# The random backbone as built, BatchNorm statistics never fitted to data.
RANDOM_AS_BUILT = 'random init, BN stats 0/1'
# Train crops the BatchNorm statistics are re-estimated on: 2048 crops (8192
# positions even on conv5's 2x2 maps) already fix a channel's mean and
# variance, and all 5671 would add half a minute to the demo. The scenes are drawn
# independently, so the first crops are as good a sample as any.
BN_CROPS = 2048


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='pretrain + probe demo')
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                        help='configs to pretrain at the same budget; the first is the baseline')
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--num-train', type=int, default=SceneConfig.num_train,
                        help='synthetic train scenes')
    parser.add_argument('--num-val', type=int, default=SceneConfig.num_val,
                        help='synthetic val scenes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, default=None, help='override max_iters of all')
    parser.add_argument('--probe-size', type=int, default=64, help='object crop side, px')
    parser.add_argument('--reuse', action='store_true',
                        help='skip training where the work dir holds the finished run')
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


def _backbone_state(checkpoint: str) -> Dict[str, torch.Tensor]:
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    state = load_checkpoint_file(checkpoint, map_location='cpu')['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def probe(cfg: Config, checkpoints: Dict[str, str], data_root: str, crop_size: int) -> dict:
    """kNN and linear accuracy of backbone features on object crops.

    ``checkpoints`` maps a name to a checkpoint of ``cfg``'s backbone; the
    backbone at its random initialisation (seed 0) is probed as
    ``'random init'``. Every backbone is probed on conv4 and conv5 (ResNet
    stages 3 and 4, strides 16 and 32), as MaskCo reports both, after its
    BatchNorm statistics are re-estimated on the train crops
    (:func:`reestimate_bn_statistics` says why). For reference, the random
    backbone is also probed with the placeholder statistics it is built
    with (mean 0, variance 1: identity BatchNorm), as ``RANDOM_AS_BUILT``.

    Returns:
        ``{name: {stage: {'knn': %, 'linear': %}}}``, random init first.
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
    logger = MMLogger.get_current_instance()
    runs = [(RANDOM_AS_BUILT, None, False), ('random init', None, True)]
    runs += [(name, checkpoint, True) for name, checkpoint in checkpoints.items()]
    for name, checkpoint, reestimate in runs:
        torch.manual_seed(0)
        backbone = MODELS.build(backbone_cfg)
        level = logger.level
        logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
        try:
            backbone.init_weights()
        finally:
            logger.setLevel(level)
        if checkpoint is not None:
            # Strict: a checkpoint whose backbone does not match must fail
            # here, not be probed as a half-random network.
            backbone.load_state_dict(_backbone_state(checkpoint), strict=True)
        if reestimate:
            reestimate_bn_statistics(backbone, train_x[:BN_CROPS], preprocess['mean'],
                                     preprocess['std'])
        train_f = extract_features(backbone, train_x, preprocess['mean'], preprocess['std'])
        val_f = extract_features(backbone, val_x, preprocess['mean'], preprocess['std'])
        results[name] = {
            stage: dict(knn=knn_accuracy(ftr, train_y, fte, val_y),
                        linear=linear_probe_accuracy(ftr, train_y, fte, val_y))
            for stage, ftr, fte in zip(('conv4', 'conv5'), train_f, val_f)}
    return results


def _set_iters(cfg: Config, iters: int) -> None:
    """Shorten or lengthen a run: max_iters, the schedulers' ends, checkpoints."""
    cfg.train_cfg.max_iters = iters
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end', 0) > iters or scheduler['type'] == 'CosineAnnealingLR':
            scheduler.end = iters
            scheduler.begin = min(scheduler.get('begin', 0), iters - 1)
            if 'T_max' in scheduler:
                scheduler.T_max = iters - scheduler.begin
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = max(1, min(cfg.default_hooks.logger.interval,
                                                   iters // 10))


def pretrain(config: str, args: argparse.Namespace) -> str:
    """Train ``config`` (unless ``--reuse`` finds it done); its final checkpoint."""
    cfg = Config.fromfile(config)
    name = osp.splitext(osp.basename(config))[0]
    cfg.work_dir = osp.join(args.work_dir, name)
    cfg.train_dataloader.dataset.data_root = args.data_root
    if args.iters:
        _set_iters(cfg, args.iters)
    final_ckpt = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    loader = cfg.train_dataloader
    say(f'pretrain {name}: {cfg.train_cfg.max_iters} iterations of batch {loader.batch_size} '
        f'(work dir {cfg.work_dir})')
    if args.reuse and osp.isfile(final_ckpt):
        say(f'  --reuse: the finished run {final_ckpt}')
    else:
        Runner.from_cfg(cfg).train()
    say(f'  {name}: ' + loss_summary(cfg.work_dir))
    return final_ckpt


def print_table(results: dict, names: List[str]) -> None:
    """Accuracies, then the gains over random init and over the baseline (names[0])."""
    pairs = [(n, 'random init') for n in names] + [(n, names[0]) for n in names[1:]]
    width = max([len(f'{a} - {b}') for a, b in pairs] + [len(n) for n in results]) + 2
    print()
    print(f'{"backbone":<{width}}{"stage":<7}{"kNN top-1":>11}{"linear top-1":>14}')
    for name, stages in results.items():
        for stage, acc in stages.items():
            print(f'{name:<{width}}{stage:<7}{acc["knn"]:>10.1f}%{acc["linear"]:>13.1f}%')
    for name, ref in pairs:
        for stage in ('conv4', 'conv5'):
            gain = {k: results[name][stage][k] - results[ref][stage][k] for k in ('knn', 'linear')}
            print(f'{name + " - " + ref:<{width}}{stage:<7}{gain["knn"]:>+10.1f}%'
                  f'{gain["linear"]:>+13.1f}%')
    print()
    say('BatchNorm statistics of every backbone were re-estimated on the train crops, '
        f'weights untouched; "{RANDOM_AS_BUILT}" is the random backbone with the '
        'statistics it is built with (identity BatchNorm), for reference only: '
        'docs/en/demo.md explains the difference')


def main() -> None:
    args = parse_args()
    start = time.time()
    scenes = SceneConfig(num_train=args.num_train, num_val=args.num_val)
    say(f'step 1/4: synthetic scenes in {args.data_root}')
    if is_generated(args.data_root, scenes):
        say('  already there')
    else:
        generate(args.data_root, scenes)

    init_default_scope('mmssl_ext')
    cfgs = [load_config(c, needs=('model', 'train_dataloader')) for c in args.configs]
    backbones = {json.dumps(c.model.backbone.to_dict(), sort_keys=True) for c in cfgs}
    if len(backbones) != 1:
        raise SystemExit('--configs must share one backbone, to be probed side by side')
    say(f'step 2/4 and 3/4: pretrain {len(args.configs)} config(s) at the same budget, '
        'then summarise each loss curve')
    checkpoints = {}
    for config in args.configs:
        checkpoints[osp.splitext(osp.basename(config))[0]] = pretrain(config, args)
    say('step 4/4: frozen-feature probe on ground-truth object crops')
    results = probe(cfgs[0], checkpoints, args.data_root, args.probe_size)
    print_table(results, list(checkpoints))
    say(f'done in {time.time() - start:.0f}s')


if __name__ == '__main__':
    run_tool(main)
