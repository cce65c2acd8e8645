"""Draw MaskCo's views of a few dataset samples to one PNG.

One row per sample: the original image with the query crop (cyan) and the key
crop (orange); the query view as the network sees it, its masked box filled
with the normalisation mean (``after_norm``: zero after normalisation) or black
(``before_norm``), outlined in yellow; the key view with the positive box 0
(green, thick) and the negative boxes (red).

    python tools/visualization/browse_maskco.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py --num 4 \
        --output work_dirs/browse_maskco.png
"""
import argparse

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.visualization import Visualizer

from mmssl_ext import register_all_modules
from mmssl_ext.utils.tool_errors import run_tool
from mmssl_ext.visualization import draw_panel, tile
from mmssl_ext.visualization.browse import (add_browse_args, dataset_and_views, load_browse_config,
                                            write_png)

QUERY_COLOUR, KEY_COLOUR = (0, 255, 255), (255, 165, 0)
MASK_COLOUR, POSITIVE_COLOUR, NEGATIVE_COLOUR = (255, 255, 0), (0, 200, 0), (230, 30, 30)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_browse_args(parser, 'MaskCo', 'work_dirs/browse_maskco.png', panel_size=256)
    return parser.parse_args()


def browse(cfg: Config, num: int, start: int, seed: int, panel_size: int) -> np.ndarray:
    """Rows of (original, query view, key view) panels, RGB uint8."""
    dataset, transforms = dataset_and_views(cfg, 'MaskCoViews', 'browse_maskco.py')
    mean = np.array(cfg.get('data_preprocessor', {}).get('mean', [0, 0, 0]), dtype=np.uint8)
    vis = Visualizer()
    rows = []
    np.random.seed(seed)
    for index in range(start, min(start + num, len(dataset))):
        results = transforms(dict(dataset.get_data_info(index)))
        original = mmcv.imread(results['img_path'], channel_order='rgb')
        query, key = (mmcv.bgr2rgb(v) for v in results['img'])
        mask_box = results['mask_box']
        if results['mask_mode'] == 'after_norm':
            # What the model feeds the network: zero after normalisation = the mean.
            x1, y1, x2, y2 = np.round(mask_box).astype(int)
            query = query.copy()
            query[y1:y2, x1:x2] = mean
        crops = results['view_crops']
        panels = [
            draw_panel(vis, original, panel_size,
                       [(crops[0], QUERY_COLOUR, 2), (crops[1], KEY_COLOUR, 2)],
                       f'#{index} query/key crops'),
            draw_panel(vis, query, panel_size, [(mask_box, MASK_COLOUR, 2)],
                       f'query, mask ({results["mask_mode"]})'),
            draw_panel(vis, key, panel_size,
                       [(results['key_boxes'][1:], NEGATIVE_COLOUR, 1),
                        (results['key_boxes'][:1], POSITIVE_COLOUR, 3)],
                       f'key, {len(results["key_boxes"])} boxes'),
        ]
        rows.append(panels)
    if not rows:
        raise ValueError(f'no samples: the dataset has {len(dataset)} images, --start {start}')
    return tile(rows)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_browse_config(args.config, args.cfg_options)
    canvas = browse(cfg, args.num, args.start, args.seed, args.panel_size)
    write_png(canvas, args.output)
    print(f'wrote {args.output} ({canvas.shape[1]}x{canvas.shape[0]} px, '
          f'{canvas.shape[0] // (args.panel_size + 6)} samples)')


if __name__ == '__main__':
    run_tool(main)
