"""Draw DetCon's masks on both views of a few dataset samples, to one PNG.

One row per sample: the original image with its region masks (FH, grid or
ground truth, one colour per id) and the two crops (view 1 cyan, view 2
orange); then, for each view, the view with its masks overlaid, and the
majority id of each feature cell (what the loss pools over: one cell per
``--stride`` view pixels, 32 for ResNet C5).

    python tools/visualization/browse_detcon.py \
        configs/detcon/detcon-s_r18_1xb32-600i_synthetic.py --num 4 \
        --output work_dirs/browse_detcon.png
"""
import argparse

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.visualization import Visualizer

from mmssl_ext import register_all_modules
from mmssl_ext.structures import majority_ids
from mmssl_ext.utils.tool_errors import run_tool
from mmssl_ext.visualization import colourise_ids, draw_panel, overlay, tile
from mmssl_ext.visualization.browse import (add_browse_args, dataset_and_views, load_browse_config,
                                            write_png)

VIEW_COLOURS = ((0, 255, 255), (255, 165, 0))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_browse_args(parser, 'DetCon', 'work_dirs/browse_detcon.png', panel_size=192)
    parser.add_argument('--stride', type=int, default=32,
                        help='view pixels per feature cell (ResNet C5: 32)')
    return parser.parse_args()


def cell_majority_map(view_ids: np.ndarray, stride: int) -> np.ndarray:
    """(S, S) view ids -> (S, S) ids where each pixel shows its cell's majority id."""
    size = view_ids.shape[0]
    grid = max(size // stride, 1)
    cells = majority_ids(torch.from_numpy(view_ids.astype(np.int64))[None], (grid, grid))
    cells = cells.view(grid, grid).numpy()
    rows = (np.arange(size) * grid) // size
    return cells[rows[:, None], rows[None, :]]


def browse(cfg: Config, num: int, start: int, seed: int, stride: int,
           panel_size: int) -> np.ndarray:
    """Rows of (original, view 1, view 1 cells, view 2, view 2 cells), RGB uint8."""
    dataset, transforms = dataset_and_views(cfg, 'DetConViews', 'browse_detcon.py')
    vis = Visualizer()
    rows = []
    np.random.seed(seed)
    for index in range(start, min(start + num, len(dataset))):
        results = transforms(dict(dataset.get_data_info(index)))
        original = mmcv.imread(results['img_path'], channel_order='rgb')
        # The same id has the same colour in every panel of a row.
        all_ids = np.concatenate([results['region_ids'].ravel(), results['view_ids'].ravel()])
        palette_seed = index

        def paint(ids: np.ndarray) -> np.ndarray:
            flat = np.concatenate([all_ids, ids.ravel()])
            return colourise_ids(flat, palette_seed)[len(all_ids):].reshape(*ids.shape, 3)

        regions = len(np.unique(results['region_ids']))
        panels = [draw_panel(
            vis, overlay(original, paint(results['region_ids'])), panel_size,
            [(crop, colour, 2) for crop, colour in zip(results['view_crops'], VIEW_COLOURS)],
            f'#{index}: {regions} masks')]
        for k, (view, vids) in enumerate(zip(results['img'], results['view_ids'])):
            rgb = mmcv.bgr2rgb(view)
            cells = cell_majority_map(vids, stride)
            present = len(np.unique(cells))
            panels.append(draw_panel(vis, overlay(rgb, paint(vids)), panel_size,
                                     label=f'view {k + 1} masks'))
            panels.append(draw_panel(vis, overlay(rgb, paint(cells), 0.7), panel_size,
                                     label=f'{present} present / {stride} px cells'))
        rows.append(panels)
    if not rows:
        raise ValueError(f'no samples: the dataset has {len(dataset)} images, --start {start}')
    return tile(rows)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_browse_config(args.config, args.cfg_options)
    canvas = browse(cfg, args.num, args.start, args.seed, args.stride, args.panel_size)
    write_png(canvas, args.output)
    print(f'wrote {args.output} ({canvas.shape[1]}x{canvas.shape[0]} px)')


if __name__ == '__main__':
    run_tool(main)
