"""Felzenszwalb-Huttenlocher throughput, images/s on one core, per image size.

    python tools/analysis_tools/benchmark_fh.py                    # 224 px and 640x480
    python tools/analysis_tools/benchmark_fh.py --img-dir data/coco/train2017 \
        --sizes 224 full --num 50

Images come from ``--img-dir`` (the embedded synthetic scenes by default),
resized to each size (``full``: as stored). One process, one thread: the
offline tool (generate_fh_masks.py) scales with ``--nproc``. FH's cost grows
with the pixel count and a little with the image content, so synthetic scenes
give an estimate for COCO, not a measurement of it.
"""
import argparse
import glob
import os
import os.path as osp
import statistics
import time
from typing import Optional, Tuple

import cv2
import mmcv

from mmssl_ext.structures import felzenszwalb_ids
from mmssl_ext.utils.tool_errors import read_image, run_tool


def parse_size(text: str) -> Optional[Tuple[int, int]]:
    """'224' -> (224, 224); '640x480' -> (640, 480) (width x height); 'full' -> None."""
    if text == 'full':
        return None
    if 'x' in text:
        w, h = text.split('x')
        return int(w), int(h)
    return int(text), int(text)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--img-dir', default='data/synthetic_scenes/images/train')
    parser.add_argument('--sizes', nargs='+', default=['224', '640x480'],
                        help='N (square), WxH, or full (COCO images are about 640x480)')
    parser.add_argument('--num', type=int, default=30, help='images per size')
    parser.add_argument('--scale', type=float, default=1000, help='FH scale (official: 1000)')
    parser.add_argument('--min-size', type=int, default=1000, help='FH min_size (official: 1000)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cv2.setNumThreads(1)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    paths = sorted(glob.glob(osp.join(args.img_dir, '**', '*.*'), recursive=True))
    paths = [p for p in paths if p.lower().endswith(('.jpg', '.jpeg', '.png'))][:args.num]
    if not paths:
        raise SystemExit(f'no images in {args.img_dir}: run make demo (or point --img-dir '
                         'at COCO train2017)')
    images = [read_image(p) for p in paths]
    print(f'FH (scale {args.scale:g}, min_size {args.min_size}) on {len(images)} images of '
          f'{args.img_dir}, 1 process')
    print(f'{"size":>10}{"Mpixel":>8}{"images/s":>10}{"ms/image":>10}{"segments":>10}')
    for text in args.sizes:
        size = parse_size(text)
        batch = [img if size is None else mmcv.imresize(img, size) for img in images]
        felzenszwalb_ids(batch[0], args.scale, args.min_size)  # warm-up
        times, segments = [], []
        for img in batch:
            start = time.perf_counter()
            ids = felzenszwalb_ids(img, args.scale, args.min_size)
            times.append(time.perf_counter() - start)
            segments.append(int(ids.max()) + 1)
        pixels = statistics.mean(img.shape[0] * img.shape[1] for img in batch) / 1e6
        total = sum(times)
        print(f'{text:>10}{pixels:>8.3f}{len(batch) / total:>10.1f}'
              f'{1e3 * total / len(batch):>10.1f}{statistics.mean(segments):>10.1f}')


if __name__ == '__main__':
    run_tool(main)
