"""MaskCo's MPH response maps (the paper's Fig. 6) of a checkpoint on images.

For each image, one row: the image at ``--size`` px; the same image with its
central ``--mask-size`` square masked as the config's model masks it
(``mask_mode`` of its ``MaskCoViews``: the normalised input zeroed by
default); then the conv5 and MPH response maps (each cell's L2 norm over
channels, one colour scale per kind of map) of the image and of the masked
image. Prints, per image, the mean response of the cells inside the mask
over that of the cells outside it, for conv5 and the MPH of the masked image.

    python tools/visualization/vis_mph.py configs/maskco/r50_8xb32_coco.py \
        work_dirs/maskco/iter_500000.pth data/coco/val2017/000000000139.jpg \
        --output work_dirs/vis_mph.png
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

import mmcv
import torch
from mmengine.visualization import Visualizer

from mmssl_ext.utils.tool_errors import InputError, load_config, read_image, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a MaskCo config')
    parser.add_argument('checkpoint', help='its pretraining checkpoint')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--size', type=int, default=224, help='view side, px (the paper: 224)')
    parser.add_argument('--mask-size', type=int, default=64,
                        help='side of the central masked square, px (the paper: 64)')
    parser.add_argument('--panel-size', type=int, default=224, help='drawn panel side, px')
    parser.add_argument('--output', default='work_dirs/vis_mph.png', help='PNG to write')
    parser.add_argument('--json', help='write the inside/outside ratios here')
    return parser.parse_args(argv)


def mask_mode_of(cfg) -> str:
    for step in cfg.train_dataloader.dataset.get('pipeline', []):
        if step.get('type') == 'MaskCoViews':
            return step.get('mask_mode', 'after_norm')
    return 'after_norm'


def build_maskco(cfg, checkpoint: str):
    from mmssl_ext.models.utils import load_with_report
    from mmssl_ext.registry import MODELS
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    model = MODELS.build(cfg.model)
    if not (hasattr(model, 'zero_masked_boxes') and getattr(model, 'neck_in_encoder', False)):
        raise InputError(cfg.filename, f'builds a {type(model).__name__}, which has no mask '
                         'prediction head', 'give a MaskCo config (configs/maskco/)')
    loaded = load_checkpoint_file(checkpoint, map_location='cpu')
    state = dict(loaded.get('state_dict', loaded))
    for part in ('backbone', 'neck'):  # what the maps come from must be the checkpoint's
        load_with_report(getattr(model, part), state, f'{part}.', check=True,
                         checkpoint=checkpoint, what=f'the {part} of {osp.basename(cfg.filename)}')
    return model.eval()


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.visualization import draw_panel, tile
    from mmssl_ext.visualization.browse import write_png
    from mmssl_ext.visualization.mph_maps import (central_box, heatmap, inside_over_outside,
                                                  mph_response_maps)
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = load_config(args.config, needs=('model', 'train_dataloader'))
    box = central_box(args.size, args.mask_size)
    views = [mmcv.imresize(read_image(path), (args.size, args.size))[:, :, ::-1].copy()
             for path in args.images]  # BGR -> RGB
    model = build_maskco(cfg, args.checkpoint)
    preprocess = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
    mode = mask_mode_of(cfg)
    results = [mph_response_maps(model, torch.from_numpy(view).permute(2, 0, 1),
                                 preprocess['mean'], preprocess['std'], box, mode)
               for view in views]
    vmax = {kind: max(float(r[name][kind].max()) for r in results for name in ('image', 'masked'))
            for kind in ('conv5', 'mph')}
    vis = Visualizer()
    size, drawn_box = args.panel_size, box.numpy()[None]
    rows, ratios = [], []
    for path, view, maps in zip(args.images, views, results):
        masked = maps['masked_input'].permute(1, 2, 0).numpy()
        panels = [draw_panel(vis, view, size, label=osp.basename(path)),
                  draw_panel(vis, masked, size, [(drawn_box, (0, 255, 0), 1)],
                             f'masked {args.mask_size} px ({mode})')]
        for name in ('image', 'masked'):
            for kind in ('conv5', 'mph'):
                panels.append(draw_panel(vis, heatmap(maps[name][kind], args.size, vmax[kind]),
                                         size, [(drawn_box, (0, 255, 0), 1)],
                                         f'{kind.upper() if kind == "mph" else kind}, {name}'))
        rows.append(panels)
        ratios.append(dict(image=path, **{
            f'{kind}_inside_over_outside': inside_over_outside(maps['masked'][kind], box,
                                                               args.size)
            for kind in ('conv5', 'mph')}))
    canvas = tile(rows)
    write_png(canvas, args.output)
    print(f'wrote {args.output} ({canvas.shape[1]}x{canvas.shape[0]} px, {len(rows)} images)')
    print('masked image, mean response inside the mask / outside it:')
    for row in ratios:
        print(f'  {osp.basename(row["image"])}: conv5 {row["conv5_inside_over_outside"]:.3f}, '
              f'MPH {row["mph_inside_over_outside"]:.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(ratios, f, indent=1)
    return ratios


if __name__ == '__main__':
    run_tool(main)
