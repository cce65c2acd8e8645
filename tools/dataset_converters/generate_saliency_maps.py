"""Precompute unsupervised saliency maps for DiLo's copy-paste views.

    python tools/dataset_converters/generate_saliency_maps.py data/coco/train2017 \
        data/coco/saliency/train2017 --ann-file data/coco/annotations/instances_train2017.json
    python tools/dataset_converters/generate_saliency_maps.py data/imagenet/train \
        data/imagenet/saliency

Output: ``OUT/<image path relative to IMG_DIR>.png``, uint8 maps (0-255) at the
image's full resolution, read by ``LoadSaliency``, and
``OUT/saliency_params.json``. The method is spectral residual
(``mmssl_ext.structures.spectral_residual_saliency``); maps from any other
method (e.g. a salient-object network) can be written in the same layout.
Resumable: existing maps are skipped and every file is written atomically.
Unreadable images are listed in ``OUT/failed.txt`` and the exit status is 1.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, ROOT)

from mmssl_ext.datasets.transforms.dilo import SALIENCY_PARAMS_FILE  # noqa: E402
from mmssl_ext.structures import spectral_residual_saliency  # noqa: E402
from mmssl_ext.utils.precompute import (list_images, mirrored_path,  # noqa: E402
                                        report, run_per_image, write_params_once,
                                        write_png_atomically)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img_dir', help='image root; map paths mirror image paths under it')
    parser.add_argument('out_dir', help='where the maps and saliency_params.json go')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--ann-file', help='COCO json: its images (file_name under img_dir)')
    source.add_argument('--list-file', help='list file: first field of each line, '
                        'relative to img_dir')
    parser.add_argument('--work-width', type=int, default=64,
                        help='analysis width in pixels (the method\'s 64)')
    parser.add_argument('--sigma', type=float, default=2.5,
                        help='smoothing of the map, in analysis pixels')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1,
                        help='worker processes')
    return parser.parse_args(argv)


def process(task: Tuple[str, str, int, float]) -> Tuple[str, str, int]:
    """One image. Returns (image, status, 1 if written)."""
    img_path, out_path, work_width, sigma = task
    if osp.isfile(out_path):
        return img_path, 'skipped', 0
    try:
        img = mmcv.imread(img_path)
    except Exception as err:  # noqa: BLE001 - corrupt files come in many forms
        return img_path, f'failed: {err}', 0
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 1:
        return img_path, 'failed: not a readable colour image', 0
    saliency = spectral_residual_saliency(img, work_width=work_width, sigma=sigma)
    write_png_atomically(out_path, np.rint(saliency * 255).astype(np.uint8))
    return img_path, 'done', 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    images = list_images(args.img_dir, args.ann_file, args.list_file)
    if not images:
        raise SystemExit(f'no images found for {args.img_dir}')
    params = dict(method='spectral_residual', work_width=args.work_width, sigma=args.sigma,
                  resolution='full', dtype='uint8')
    write_params_once(osp.join(args.out_dir, SALIENCY_PARAMS_FILE), params,
                      ('method', 'work_width', 'sigma'))
    tasks = [(img, mirrored_path(args.out_dir, args.img_dir, img), args.work_width, args.sigma)
             for img in images]
    print(f'saliency maps of {len(images)} images (spectral residual, width '
          f'{args.work_width}, sigma {args.sigma}), {args.nproc} processes -> {args.out_dir}')
    counts, _ = run_per_image(process, tasks, len(tasks), args.nproc, args.out_dir)
    return report(counts, args.nproc, args.out_dir)


if __name__ == '__main__':
    sys.exit(main())
