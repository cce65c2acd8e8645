"""A dense frozen probe: per-cell linear segmentation of whole scenes.

Each backbone (a config's, from each checkpoint, and its random
initialisation as the reference) embeds whole scenes, upsampled to
``--input-size`` so that conv5 keeps enough cells; every cell of conv4 and
conv5 takes the majority class of the pixels under it (background
included); one linear classifier per stage is fitted on the train scenes'
cells (the crop probe's convex, deterministic fit) and scored per pixel on
the val scenes (mIoU and pixel accuracy, mmseg's IoU metric). Every
backbone's BatchNorm statistics are re-estimated on the train scenes first,
as the demo's crop probe does (docs/en/demo.md says why).

    python tools/analysis_tools/dense_probe.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py \
        --checkpoint work_dirs/demo/maskco_r18_1xb32-600i_synthetic/iter_600.pth \
        --data-root data/synthetic_scenes
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional

from mmssl_ext.utils.tool_errors import InputError, load_config, require_file, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a pretraining config: its model.backbone is probed')
    parser.add_argument('--checkpoint', nargs='*', default=[],
                        help='checkpoints of that backbone (the random init is always probed)')
    parser.add_argument('--data-root', default='data/synthetic_scenes',
                        help='scenes with semantic maps (tools/misc/make_synthetic_scenes.py)')
    parser.add_argument('--num-train', type=int, default=500, help='train scenes at most')
    parser.add_argument('--num-val', type=int, default=400, help='val scenes at most')
    parser.add_argument('--input-size', type=int, default=256,
                        help='side the scenes are upsampled to (128 px scenes: conv5 8x8)')
    parser.add_argument('--max-train-cells', type=int, default=20000,
                        help='train cells the classifier is fitted on, at most (seeded draw)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the rows here')
    return parser.parse_args(argv)


def row_names(checkpoints: List[str]) -> List[str]:
    """A row name per checkpoint: its file name, with its folder where two
    share one (every run's last checkpoint is iter_N.pth)."""
    names = [osp.basename(c) for c in checkpoints]
    return [osp.join(osp.basename(osp.dirname(osp.abspath(c))), n) if names.count(n) > 1 else n
            for c, n in zip(checkpoints, names)]


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.evaluation import (dense_probe_backbone, load_semantic_scenes,
                                      reestimate_bn_statistics, semantic_classes, upsampled)
    from mmssl_ext.models.utils import build_frozen_backbone
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = load_config(args.config)
    for checkpoint in args.checkpoint:
        require_file(checkpoint, 'checkpoint', 'give checkpoints of the config\'s model')
    ann = osp.join(args.data_root, 'annotations', 'instances_train.json')
    require_file(ann, 'annotation file', 'point --data-root at scenes made by '
                 'tools/misc/make_synthetic_scenes.py (or make demo)')
    try:
        num_classes = semantic_classes(args.data_root)
    except ValueError as err:
        raise InputError(ann, str(err).split(': ', 1)[-1], 'give scenes made by '
                         'tools/misc/make_synthetic_scenes.py') from None
    if num_classes < 2:
        raise InputError(ann, 'lists no category', 'give scenes with semantic classes')
    train_images, train_maps = load_semantic_scenes(args.data_root, 'train', args.num_train)
    val_images, val_maps = load_semantic_scenes(args.data_root, 'val', args.num_val)
    train = (upsampled(train_images, args.input_size), train_maps)
    val = (upsampled(val_images, args.input_size), val_maps)
    preprocess = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
    print(f'{len(train_maps)} train / {len(val_maps)} val scenes at {args.input_size} px, '
          f'{num_classes} classes with background')
    results = {}
    for name, checkpoint in [('random init', None)] + list(zip(row_names(args.checkpoint),
                                                               args.checkpoint)):
        backbone = build_frozen_backbone(cfg.model.backbone, checkpoint, out_indices=(2, 3),
                                         seed=args.seed)
        reestimate_bn_statistics(backbone, train[0], preprocess['mean'], preprocess['std'])
        results[name] = dense_probe_backbone(
            backbone, train, val, preprocess['mean'], preprocess['std'], num_classes,
            max_train_cells=args.max_train_cells, seed=args.seed)
    width = max(len(n) for n in results) + 2
    print(f'{"backbone":<{width}}{"stage":<7}{"grid":>6}{"mIoU":>8}{"pixel acc":>11}')
    for name, stages in results.items():
        for stage, row in stages.items():
            grid = 'x'.join(map(str, row['grid']))
            print(f'{name:<{width}}{stage:<7}{grid:>6}{row["miou"]:>7.1f}%'
                  f'{row["pixel_accuracy"]:>10.1f}%')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    run_tool(main)
