"""The README's demo: pretrain on the embedded synthetic scenes, then probe.

    python tools/misc/demo.py [--data-root data/synthetic_scenes] [--iters 300]

1. makes the synthetic scenes if missing (tools/misc/make_synthetic_scenes.py);
2. pretrains each config with mmengine's Runner at the same budget (300
   iterations by default, batch, view size): MaskCo and its baseline,
   mmpretrain's MoCo v2 (``--with-densecl``: and mmpretrain's DenseCL);
3. prints a summary of each loss curve;
4. probes frozen backbone features of ground-truth object crops (kNN and
   linear, train split -> val split): each pretrained backbone against the same
   backbone randomly initialised, every one with its BatchNorm statistics
   re-estimated on the train crops;
5. probes the same backbones densely: a linear classifier per feature cell of
   whole scenes against their semantic maps (mIoU and pixel accuracy on the
   val scenes; :mod:`mmssl_ext.evaluation.dense_probe`);
6. draws the loss curves and both probes' results as PNGs in the work dir
   (``figures/``) and writes the figures as JSON (``probe_results.json``).
"""
import argparse
import json
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmssl_ext  # noqa: F401
from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate, is_generated
from mmssl_ext.evaluation import (dense_probe_backbone, extract_features, knn_accuracy,
                                  linear_probe_accuracy, load_object_crops, load_semantic_scenes,
                                  reestimate_bn_statistics, semantic_classes)
from mmssl_ext.models.utils import build_frozen_backbone
from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
from mmssl_ext.utils.tool_errors import load_config, run_tool
from mmssl_ext.visualization.figures import logged_scalars, plot_curves, plot_grouped_bars

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs')
# The baseline first: every other run is compared with it at the same budget.
DEFAULT_CONFIGS = [
    osp.join(CONFIG_DIR, 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
    osp.join(CONFIG_DIR, 'maskco', 'maskco_r18_1xb32-600i_synthetic.py'),
]
# mmpretrain's DenseCL, the region-level baseline (--with-densecl): a third run
# of the same budget, which would take the default past its 10 minutes.
DENSECL_CONFIG = osp.join(CONFIG_DIR, 'densecl', 'densecl_r18_1xb32-600i_synthetic.py')
# Iterations of each run: half the configs' 600-iteration schedule (the
# warmup kept, the cosine decay ending at 300), so that `make demo` stays
# within 10 minutes on 2 cores. A 600-iteration run took 235 s (MoCo v2) and
# 264 s (MaskCo) on 2026-12-06's faster machine and 6.4 minutes on its slower
# one, the probes 99 s: 10m17s and 15m48s in all. docs/en/demo.md has the
# figures of both budgets (`--iters 600` for the configs' own schedule).
DEMO_ITERS = 300
# The random backbone as built, BatchNorm statistics never fitted to data.
RANDOM_AS_BUILT = 'random init, BN stats 0/1'
# Train crops the BatchNorm statistics are re-estimated on: 2048 crops (8192
# positions even on conv5's 2x2 maps) already fix a channel's mean and
# variance, and all 5671 would add half a minute to the demo. The scenes are drawn
# independently, so the first crops are as good a sample as any.
BN_CROPS = 2048
# The dense probe: the first scenes of each split at their own 128 px (conv4
# 8x8 cells, conv5 4x4), a seeded draw of train cells for the fit. Sized to
# keep `make demo` within its 10 minutes (docs/en/demo.md has the timing);
# tools/analysis_tools/dense_probe.py runs it at 256 px on more scenes.
DENSE_TRAIN_SCENES = 300
DENSE_VAL_SCENES = 200
DENSE_TRAIN_CELLS = 10000


# Backbone keys that only choose the initial weights, which a checkpoint
# replaces: SimCLR's and DetCon's configs zero the last BN of each residual
# block, MoCo v2's do not, and their trained ResNet-18s are probed side by side.
# The random-init row is the first config's initialisation.
INIT_ONLY_KEYS = ('zero_init_residual', 'init_cfg')


def backbone_architecture(backbone: dict) -> str:
    """The backbone config without its init-only keys, as a comparable string."""
    return json.dumps({k: v for k, v in dict(backbone).items() if k not in INIT_ONLY_KEYS},
                      sort_keys=True, default=str)


def configs_to_run(configs: List[str], with_densecl: bool) -> List[str]:
    """``configs``, with DenseCL's appended for ``--with-densecl`` unless one
    of them already is DenseCL's config by file name (runs are named by file
    name: a second one would share the first one's work dir)."""
    configs = list(configs)
    if with_densecl and osp.basename(DENSECL_CONFIG) not in map(osp.basename, configs):
        configs.append(DENSECL_CONFIG)
    return configs


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='pretrain + probe demo')
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                        help='configs to pretrain at the same budget; the first is the baseline')
    parser.add_argument('--with-densecl', action='store_true',
                        help='add DenseCL (mmpretrain\'s, the region-level baseline) to the runs')
    parser.add_argument('--as-built-row', action='store_true',
                        help='also probe the random backbone with the BatchNorm statistics it is '
                             'built with (identity BatchNorm; docs/en/demo.md explains why the '
                             'demo re-estimates them)')
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--num-train', type=int, default=SceneConfig.num_train,
                        help='synthetic train scenes')
    parser.add_argument('--num-val', type=int, default=SceneConfig.num_val,
                        help='synthetic val scenes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, default=DEMO_ITERS,
                        help='iterations of every run, their schedules scaled to it '
                             f'(default {DEMO_ITERS}; 600 is the configs\' own schedule)')
    parser.add_argument('--seed', type=int, default=None,
                        help="pretraining seed of every run (default: the configs', 0); "
                             'the probes stay seeded as they are')
    parser.add_argument('--probe-size', type=int, default=64, help='object crop side, px')
    parser.add_argument('--reuse', action='store_true',
                        help='skip training where the work dir holds the finished run')
    parser.add_argument('--dense-scenes', type=int, nargs=2, metavar=('TRAIN', 'VAL'),
                        default=[DENSE_TRAIN_SCENES, DENSE_VAL_SCENES],
                        help='scenes of the dense probe (0 0: no dense probe)')
    args = parser.parse_args(argv)
    if args.iters < 1:
        parser.error(f'--iters must be at least 1, not {args.iters}')
    return args


def say(msg: str) -> None:
    print(f'\033[1m[demo]\033[0m {msg}', flush=True)


def loss_summary(work_dir: str) -> str:
    """Mean loss over the first, middle and last tenth of the logged iterations."""
    iters, losses = logged_scalars(work_dir, 'loss')
    if not len(losses):
        return 'no loss log found'
    tenth = max(len(losses) // 10, 1)
    mid = len(losses) // 2
    return (f'loss over {iters[0]}..{iters[-1]} it: first {losses[:tenth].mean():.3f}, '
            f'middle {losses[mid - tenth // 2:mid + tenth // 2 + 1].mean():.3f}, '
            f'last {losses[-tenth:].mean():.3f} (min {losses.min():.3f})')


def probe(cfg: Config, checkpoints: Dict[str, str], data_root: str, crop_size: int,
          dense_scenes: Tuple[int, int], as_built_row: bool = False) -> Tuple[dict, dict]:
    """kNN and linear accuracy of backbone features on object crops, and the
    dense probe of the same backbones on whole scenes.

    ``checkpoints`` maps a name to a checkpoint of ``cfg``'s backbone
    architecture; ``cfg``'s backbone at its random initialisation (seed 0)
    is probed as ``'random init'``. Every backbone is probed on conv4 and conv5 (ResNet
    stages 3 and 4, strides 16 and 32), as MaskCo reports both, after its
    BatchNorm statistics are re-estimated on the train crops
    (:func:`reestimate_bn_statistics` says why). With ``as_built_row``, the
    random backbone is also probed on crops with the placeholder statistics
    it is built with (mean 0, variance 1: identity BatchNorm), as
    ``RANDOM_AS_BUILT``, for reference.
    The dense probe re-estimates the statistics on its train scenes
    (``dense_scenes``: train and val scenes; ``(0, 0)``: none).

    Returns:
        ``{name: {stage: {'knn': %, 'linear': %}}}``, random init first, and
        ``{name: {stage: dense scores}}`` (no as-built row).
    """
    ann = osp.join(data_root, 'annotations', 'instances_{}.json')
    img = osp.join(data_root, 'images', '{}')
    train_x, train_y = load_object_crops(ann.format('train'), img.format('train'), crop_size)
    val_x, val_y = load_object_crops(ann.format('val'), img.format('val'), crop_size)
    say(f'probe: {len(train_x)} train / {len(val_x)} val object crops of {crop_size} px, '
        f'{int(train_y.max()) + 1} classes')
    if min(dense_scenes) > 0:
        num_classes = semantic_classes(data_root)  # with the background
        train_scenes = load_semantic_scenes(data_root, 'train', dense_scenes[0])
        val_scenes = load_semantic_scenes(data_root, 'val', dense_scenes[1])
        say(f'dense probe: {len(train_scenes[1])} train / {len(val_scenes[1])} val scenes at '
            f'{train_scenes[0].shape[-1]} px, {num_classes - 1} classes and background')
    preprocess = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    mean, std = preprocess['mean'], preprocess['std']
    results, dense_results = {}, {}
    seconds = dict(crop=0.0, dense=0.0)
    runs = [(RANDOM_AS_BUILT, None, False)] if as_built_row else []
    runs += [('random init', None, True)]
    runs += [(name, checkpoint, True) for name, checkpoint in checkpoints.items()]
    for name, checkpoint, reestimate in runs:
        # Strict: a checkpoint whose backbone does not match must fail here,
        # not be probed as a half-random network.
        backbone = build_frozen_backbone(cfg.model.backbone, checkpoint, out_indices=(2, 3))
        start = time.time()
        if reestimate:
            reestimate_bn_statistics(backbone, train_x[:BN_CROPS], mean, std)
        train_f = extract_features(backbone, train_x, mean, std)
        val_f = extract_features(backbone, val_x, mean, std)
        results[name] = {
            stage: dict(knn=knn_accuracy(ftr, train_y, fte, val_y),
                        linear=linear_probe_accuracy(ftr, train_y, fte, val_y))
            for stage, ftr, fte in zip(('conv4', 'conv5'), train_f, val_f)}
        seconds['crop'] += time.time() - start
        if min(dense_scenes) > 0 and reestimate:
            start = time.time()
            reestimate_bn_statistics(backbone, train_scenes[0], mean, std)
            dense_results[name] = dense_probe_backbone(
                backbone, train_scenes, val_scenes, mean, std, num_classes,
                max_train_cells=DENSE_TRAIN_CELLS)
            seconds['dense'] += time.time() - start
    say(f'probes of {len(runs)} backbones: crop {seconds["crop"]:.0f} s, dense '
        f'{seconds["dense"]:.0f} s')
    return results, dense_results


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
    _set_iters(cfg, args.iters)
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    final_ckpt = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    loader = cfg.train_dataloader
    say(f'pretrain {name}: {cfg.train_cfg.max_iters} iterations of batch {loader.batch_size}, '
        f'seed {cfg.randomness.seed} (work dir {cfg.work_dir})')
    if args.reuse and osp.isfile(final_ckpt):
        # A run of another seed in the same work dir is not this run.
        meta = load_checkpoint_file(final_ckpt, map_location='cpu').get('meta', {})
        if meta.get('seed') != cfg.randomness.seed:
            raise SystemExit(f'--reuse: {final_ckpt} was trained with seed {meta.get("seed")}, '
                             f'not {cfg.randomness.seed}: give this seed its own --work-dir')
        say(f'  --reuse: the finished run {final_ckpt}')
    else:
        start = time.time()
        Runner.from_cfg(cfg).train()
        say(f'  trained in {time.time() - start:.0f} s')
    say(f'  {name}: ' + loss_summary(cfg.work_dir))
    return final_ckpt


def gains(results: dict, names: List[str], metrics: Tuple[str, ...]) -> List[Tuple]:
    """``(name, reference, stage, {metric: difference})`` of every backbone
    over random init, and of every other one over the baseline (names[0])."""
    pairs = [(n, 'random init') for n in names] + [(n, names[0]) for n in names[1:]]
    return [(name, ref, stage, {m: results[name][stage][m] - results[ref][stage][m]
                                for m in metrics})
            for name, ref in pairs for stage in ('conv4', 'conv5')]


def print_table(results: dict, names: List[str], metrics: Tuple[str, ...],
                headers: Tuple[str, ...]) -> None:
    """Figures per backbone and stage, then the gains over random init and
    over the baseline (names[0])."""
    rows = gains(results, names, metrics)
    width = max([len(f'{a} - {b}') for a, b, _, _ in rows] + [len(n) for n in results]) + 2
    print()
    print(f'{"backbone":<{width}}{"stage":<7}' + ''.join(f'{h:>14}' for h in headers))
    for name, stages in results.items():
        for stage, scores in stages.items():
            print(f'{name:<{width}}{stage:<7}'
                  + ''.join(f'{scores[m]:>13.1f}%' for m in metrics))
    for name, ref, stage, gain in rows:
        print(f'{name + " - " + ref:<{width}}{stage:<7}'
              + ''.join(f'{gain[m]:>+13.1f}%' for m in metrics))
    print()


def draw(work_dir: str, runs: Dict[str, str], crop: dict, dense: dict) -> List[str]:
    """The loss curves and the probes' figures as PNGs under ``work_dir/figures``."""
    out = osp.join(work_dir, 'figures')
    paths = [plot_curves({name: logged_scalars(run_dir, 'loss') for name, run_dir in runs.items()},
                         osp.join(out, 'loss_curves.png'), 'training loss (demo runs)')]
    columns = {name: {f'{stage} {metric}': scores[metric] for stage, scores in stages.items()
                      for metric in ('knn', 'linear')} for name, stages in crop.items()}
    paths.append(plot_grouped_bars(columns, osp.join(out, 'crop_probe.png'),
                                   'object-crop probe (val top-1)', 'top-1 %'))
    if dense:
        columns = {name: {f'{stage} {label}': scores[metric] for metric, label in
                          (('miou', 'mIoU'), ('pixel_accuracy', 'pixel acc'))
                          for stage, scores in stages.items()} for name, stages in dense.items()}
        paths.append(plot_grouped_bars(columns, osp.join(out, 'dense_probe.png'),
                                       'dense probe on whole scenes (val)', '%'))
    return paths


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
    args.configs = configs_to_run(args.configs, args.with_densecl)
    cfgs = [load_config(c, needs=('model', 'train_dataloader')) for c in args.configs]
    backbones = {backbone_architecture(c.model.backbone) for c in cfgs}
    if len(backbones) != 1:
        raise SystemExit('--configs must share one backbone architecture, to be probed side '
                         'by side')
    say(f'step 2/4 and 3/4: pretrain {len(args.configs)} config(s) at the same budget, '
        'then summarise each loss curve')
    checkpoints = {}
    for config in args.configs:
        checkpoints[osp.splitext(osp.basename(config))[0]] = pretrain(config, args)
    say('step 4/4: frozen-feature probes: ground-truth object crops, then whole scenes')
    results, dense = probe(cfgs[0], checkpoints, args.data_root, args.probe_size,
                           tuple(args.dense_scenes), args.as_built_row)
    names = list(checkpoints)
    print_table(results, names, ('knn', 'linear'), ('kNN top-1', 'linear top-1'))
    say('BatchNorm statistics of every backbone were re-estimated on the train crops, '
        'weights untouched: docs/en/demo.md says why'
        + (f'; "{RANDOM_AS_BUILT}" is the random backbone with the statistics it is built '
           'with (identity BatchNorm), for reference only' if args.as_built_row else ''))
    if dense:
        say('dense probe: a linear classifier per feature cell, scored per pixel on the val '
            'scenes (BatchNorm statistics re-estimated on the train scenes)')
        print_table(dense, names, ('miou', 'pixel_accuracy'), ('mIoU', 'pixel acc'))
    with open(osp.join(args.work_dir, 'probe_results.json'), 'w') as f:
        json.dump(dict(crop=results, dense=dense), f, indent=1)
    run_dirs = {name: osp.join(args.work_dir, name) for name in names}
    for path in draw(args.work_dir, run_dirs, results, dense):
        say(f'figure: {path}')
    say(f'done in {time.time() - start:.0f}s')


if __name__ == '__main__':
    run_tool(main)
