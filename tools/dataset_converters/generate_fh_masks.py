"""Precompute Felzenszwalb-Huttenlocher masks for DetCon, for a whole dataset.

    # COCO train2017, the official setting (scale 1000, min_size 1000, full res):
    python tools/dataset_converters/generate_fh_masks.py data/coco/train2017 \
        data/coco/fh_masks/train2017 --ann-file data/coco/annotations/instances_train2017.json
    # DetCon's COCO runs: three scales, min_size = scale
    python tools/dataset_converters/generate_fh_masks.py data/coco/train2017 \
        data/coco/fh_masks/train2017 --ann-file ... --scales 500 1000 1500
    # an image folder (ImageNet) or a list file (Conceptual Captions)
    python tools/dataset_converters/generate_fh_masks.py data/imagenet/train data/imagenet/fh
    python tools/dataset_converters/generate_fh_masks.py data/cc/images data/cc/fh \
        --list-file data/cc/train_list.txt

Output: ``OUT/scale<s>/<image path relative to IMG_DIR>.png``, uint16 PNG id maps
at the image's full resolution (lossless; uint8 would overflow above 255
segments), and ``OUT/fh_params.json`` with the parameters. Resumable: existing
masks are skipped and every file is written atomically, so an interrupted run
is simply started again. Images that cannot be read are listed in
``OUT/failed.txt`` and the exit status is 1; nothing else is lost.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

import mmcv

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, ROOT)

from mmssl_ext.datasets.transforms.detcon import FH_PARAMS_FILE, fh_mask_path  # noqa: E402
from mmssl_ext.structures import felzenszwalb_ids  # noqa: E402
from mmssl_ext.utils.precompute import (list_images, report, run_per_image,  # noqa: E402
                                        write_params_once, write_png_atomically)
from mmssl_ext.utils.tool_errors import run_tool  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img_dir', help='image root; mask paths mirror image paths under it')
    parser.add_argument('out_dir', help='where the masks and fh_params.json go')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--ann-file', help='COCO json: its images (file_name under img_dir)')
    source.add_argument('--list-file', help='list file: first field of each line, '
                        'relative to img_dir')
    parser.add_argument('--scales', type=float, nargs='+', default=[1000.0],
                        help='FH scale(s) (official: 1000; COCO runs: 500 1000 1500)')
    parser.add_argument('--min-size', type=int, default=None,
                        help='FH min_size; default: equal to each scale (the paper\'s c = s)')
    parser.add_argument('--sigma', type=float, default=0.8, help='FH pre-smoothing sigma')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1,
                        help='worker processes')
    return parser.parse_args(argv)


def params_of(args: argparse.Namespace) -> dict:
    import skimage
    return dict(scales=[float(s) for s in args.scales],
                min_size={f'{s:g}': int(args.min_size if args.min_size is not None else s)
                          for s in args.scales},
                sigma=args.sigma, resolution='full', dtype='uint16',
                algorithm='skimage.segmentation.felzenszwalb', skimage=skimage.__version__)


def process(task: Tuple[str, List[Tuple[float, int, str]], float]) -> Tuple[str, str, int]:
    """One image: every missing scale. Returns (image, status, segments)."""
    img_path, jobs, sigma = task
    todo = [(s, m, p) for s, m, p in jobs if not osp.isfile(p)]
    if not todo:
        return img_path, 'skipped', 0
    try:
        img = mmcv.imread(img_path)
    except Exception as err:  # noqa: BLE001 - corrupt files come in many forms
        return img_path, f'failed: {err}', 0
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 1:
        return img_path, 'failed: not a readable colour image', 0
    segments = 0
    for scale, min_size, path in todo:
        ids = felzenszwalb_ids(img, scale=scale, min_size=min_size, sigma=sigma)
        segments = max(segments, int(ids.max()) + 1)
        write_png_atomically(path, ids)
    return img_path, 'done', segments


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    images = list_images(args.img_dir, args.ann_file, args.list_file)
    params = params_of(args)
    write_params_once(osp.join(args.out_dir, FH_PARAMS_FILE), params,
                      ('scales', 'min_size', 'sigma'))
    tasks = [(img, [(s, params['min_size'][f'{s:g}'],
                     fh_mask_path(args.out_dir, args.img_dir, img, s)) for s in params['scales']],
              args.sigma) for img in images]
    print(f'FH masks of {len(images)} images, scales {params["scales"]}, min_size '
          f'{params["min_size"]}, sigma {args.sigma}, {args.nproc} processes -> {args.out_dir}')
    counts, max_segments = run_per_image(process, tasks, len(tasks), args.nproc, args.out_dir)
    return report(counts, args.nproc, args.out_dir,
                  f'; at most {max_segments} segments in an image')


if __name__ == '__main__':
    sys.exit(run_tool(main))
