"""MaskCo's ResNet distance of image folders (§4.2, Eq. 2, Table 1 of the paper).

For each image, two views by MoCo's random crop (area 0.2-1, aspect 3/4-4/3,
``--size`` px); the conv5 features of a frozen backbone, global-average-pooled
and unit-normalised over channels; their squared distance. Prints each
folder's mean with its standard error, beside the paper's figures (measured
with torchvision's supervised ResNet-50 at 224 px).

    # the paper's backbone: a torchvision-format ResNet-50 state dict
    python tools/analysis_tools/resnet_distance.py data/coco/train2017 \
        --torchvision-resnet50 resnet50-0676ba61.pth --num 5000
    # a checkpoint of ours (its config's backbone), scenes against objects
    python tools/analysis_tools/resnet_distance.py data/synthetic_scenes/images/train \
        data/synthetic_objects/images/train --config CONFIG --checkpoint CKPT --size 128
"""
import argparse
import glob
import json
import os.path as osp
from typing import Iterator, List, Optional

import torch

from mmssl_ext.utils.tool_errors import InputError, read_image, require_dir, run_tool

# Table 1: the ResNet distance of the pretraining datasets (torchvision's
# supervised ResNet-50, 224 px views).
PAPER_TABLE_1 = {'ImageNet': 0.1546, 'ImageNet 10%': 0.1547, 'COCO': 0.1814,
                 'Conceptual Captions': 0.1782}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img_dirs', nargs='+', help='folders of images, one row each')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--torchvision-resnet50', metavar='STATE_DICT',
                        help='a torchvision-format ResNet-50 state dict (the paper\'s model)')
    source.add_argument('--config', help='a config of ours: its model.backbone is measured')
    parser.add_argument('--checkpoint', help='with --config: the weights (a pretraining or '
                        'extract_backbone.py checkpoint); without it, the random init (seed 0)')
    parser.add_argument('--num', type=int, default=1000, help='images per folder at most')
    parser.add_argument('--size', type=int, default=224, help='view side, pixels')
    parser.add_argument('--seed', type=int, default=0, help='of the crops')
    parser.add_argument('--batch', type=int, default=32, help='images (2 views each) per batch')
    parser.add_argument('--json', help='write the rows here')
    args = parser.parse_args(argv)
    if args.checkpoint and not args.config:
        parser.error('--checkpoint goes with --config (a torchvision state dict: '
                     '--torchvision-resnet50)')
    return args


def build_backbone(args: argparse.Namespace):
    """The frozen backbone, its input mean and std (0..255) and a description."""
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.evaluation.resnet_distance import IMAGENET_MEAN, IMAGENET_STD
    from mmssl_ext.models.utils import build_frozen_backbone, load_frozen_backbone
    from mmssl_ext.registry import MODELS
    from mmssl_ext.utils.tool_errors import load_config
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    if args.torchvision_resnet50:
        # mmpretrain's ResNet-50 has torchvision's parameter names (fc aside).
        backbone = MODELS.build(dict(type='mmpretrain.ResNet', depth=50, out_indices=(3, )))
        report = load_frozen_backbone(backbone, args.torchvision_resnet50, prefix='')
        return backbone, IMAGENET_MEAN, IMAGENET_STD, (
            f'torchvision ResNet-50 {osp.basename(args.torchvision_resnet50)} '
            f'({report.summary()})')
    cfg = load_config(args.config)
    preprocess = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    backbone = build_frozen_backbone(cfg.model.backbone, args.checkpoint)
    what = osp.basename(args.checkpoint) if args.checkpoint else 'random init (seed 0)'
    return (backbone, preprocess.get('mean', IMAGENET_MEAN), preprocess.get('std', IMAGENET_STD),
            f'{type(backbone).__name__} of {osp.basename(args.config)}, {what}')


def folder_images(img_dir: str, num: int) -> List[str]:
    require_dir(img_dir, 'image folder', 'give folders of images (jpg/png)')
    paths = sorted(p for p in glob.glob(osp.join(img_dir, '*'))
                   if p.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise InputError(img_dir, f'holds no image ({", ".join(IMAGE_SUFFIXES)})',
                         'give folders of images')
    return paths[:num]


def rgb_images(paths: List[str]) -> Iterator:
    for path in paths:
        yield read_image(path)[:, :, ::-1].copy()  # BGR -> RGB


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    from mmssl_ext.evaluation.resnet_distance import mean_and_standard_error, resnet_distances
    paths = {img_dir: folder_images(img_dir, args.num) for img_dir in args.img_dirs}
    backbone, mean, std, described = build_backbone(args)
    if torch.cuda.is_available():
        backbone = backbone.cuda()
    rows = []
    for img_dir, files in paths.items():
        distances = resnet_distances(backbone, rgb_images(files), size=args.size, seed=args.seed,
                                     mean=mean, std=std, images_per_batch=args.batch)
        mean_d, sem = mean_and_standard_error(distances)
        rows.append(dict(folder=img_dir, images=len(files), mean=mean_d, standard_error=sem,
                         size=args.size, seed=args.seed, backbone=described))
    print(f'ResNet distance (Eq. 2), {args.size} px views, seed {args.seed}; {described}')
    width = max(len(r['folder']) for r in rows) + 2
    print(f'{"images of":<{width}}{"n":>6}{"distance":>11}{"s.e.":>9}')
    for row in rows:
        print(f'{row["folder"]:<{width}}{row["images"]:>6}{row["mean"]:>11.4f}'
              f'{row["standard_error"]:>9.4f}')
    print('the paper (torchvision supervised ResNet-50, 224 px): '
          + ', '.join(f'{name} {value}' for name, value in PAPER_TABLE_1.items()))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    run_tool(main)
