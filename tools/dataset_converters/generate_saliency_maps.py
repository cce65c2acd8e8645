"""Precompute unsupervised saliency maps for DiLo's copy-paste views.

    python tools/dataset_converters/generate_saliency_maps.py data/coco/train2017 \
        data/coco/saliency/train2017 --ann-file data/coco/annotations/instances_train2017.json
    python tools/dataset_converters/generate_saliency_maps.py data/imagenet/train \
        data/imagenet/saliency

Output: ``OUT/<image path relative to IMG_DIR>.png``, uint8 maps (0-255) at the
image's full resolution, read by ``LoadSaliency``, and
``OUT/saliency_params.json``. The method is RBD, robust background detection
(``mmssl_ext.structures.rbd_saliency``, the traditional saliency of the DiLo
paper), or ``--method spectral_residual``; maps from any other method (e.g. a
salient-object network such as BASNet) can be written in the same layout.
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

from mmssl_ext.datasets.precomputed_maps import mirrored_path  # noqa: E402
from mmssl_ext.datasets.transforms.dilo import SALIENCY_PARAMS_FILE  # noqa: E402
from mmssl_ext.structures import saliency_map  # noqa: E402
from mmssl_ext.utils.precompute import (list_images, report, run_per_image,  # noqa: E402
                                        write_params_once, write_png_atomically)
from mmssl_ext.utils.tool_errors import run_tool  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img_dir', help='image root; map paths mirror image paths under it')
    parser.add_argument('out_dir', help='where the maps and saliency_params.json go')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--ann-file', help='COCO json: its images (file_name under img_dir)')
    source.add_argument('--list-file', help='list file: first field of each line, '
                        'relative to img_dir')
    parser.add_argument('--method', choices=['rbd', 'spectral_residual'], default='rbd',
                        help='rbd: robust background detection (Zhu et al. 2014, the '
                        "paper's traditional saliency); spectral_residual: Hou and Zhang 2007")
    parser.add_argument('--work-width', type=int, default=64,
                        help='spectral_residual: analysis width in pixels (the method\'s 64)')
    parser.add_argument('--sigma', type=float, default=2.5,
                        help='spectral_residual: smoothing of the map, in analysis pixels')
    parser.add_argument('--segments', type=int, default=200,
                        help='rbd: SLIC superpixels per image (the paper\'s ~200)')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1,
                        help='worker processes')
    return parser.parse_args(argv)


def process(task: Tuple[str, str, str, dict]) -> Tuple[str, str, int]:
    """One image. Returns (image, status, 1 if written)."""
    img_path, out_path, method, options = task
    if osp.isfile(out_path):
        return img_path, 'skipped', 0
    try:
        img = mmcv.imread(img_path)
    except Exception as err:  # noqa: BLE001 - corrupt files come in many forms
        return img_path, f'failed: {err}', 0
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 1:
        return img_path, 'failed: not a readable colour image', 0
    saliency = saliency_map(mmcv.bgr2rgb(img), method, **options)
    write_png_atomically(out_path, np.rint(saliency * 255).astype(np.uint8))
    return img_path, 'done', 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    images = list_images(args.img_dir, args.ann_file, args.list_file)
    options = (dict(n_segments=args.segments) if args.method == 'rbd'
               else dict(work_width=args.work_width, sigma=args.sigma))
    params = dict(method=args.method, **options, resolution='full', dtype='uint8')
    write_params_once(osp.join(args.out_dir, SALIENCY_PARAMS_FILE), params,
                      ('method', *options))
    tasks = [(img, mirrored_path(args.out_dir, args.img_dir, img), args.method, options)
             for img in images]
    print(f'saliency maps of {len(images)} images ({args.method}, {options}), '
          f'{args.nproc} processes -> {args.out_dir}')
    counts, _ = run_per_image(process, tasks, len(tasks), args.nproc, args.out_dir)
    return report(counts, args.nproc, args.out_dir)


if __name__ == '__main__':
    sys.exit(run_tool(main))
