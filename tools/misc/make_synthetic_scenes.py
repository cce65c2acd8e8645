"""Make the embedded synthetic scene dataset (no download).

Example:
    python tools/misc/make_synthetic_scenes.py data/synthetic_scenes \
        --num-train 400 --num-val 200 --image-size 128 --num-classes 8
    # one large object per image, no clutter (ImageNet-like), for comparisons:
    python tools/misc/make_synthetic_scenes.py data/synthetic_objects --object-centric

Writes images, COCO instances (boxes + RLE masks), semantic maps and image
labels; see ``mmssl_ext/datasets/synthetic_scenes.py`` for the layout.
Deterministic: the same flags and seed give the same files. Skips the work
when ``OUT_DIR`` already holds a dataset made with the same flags.
"""
import argparse
import dataclasses
import os.path as osp
import time

from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate, is_generated
from mmssl_ext.utils.tool_errors import InputError, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/synthetic_scenes')
    for field in dataclasses.fields(SceneConfig):
        flag = f'--{field.name.replace("_", "-")}'
        if field.type is bool:
            parser.add_argument(flag, action='store_true', default=field.default,
                                help=f'(default: {field.default})')
        else:
            parser.add_argument(flag, type=field.type, default=field.default,
                                help=f'(default: {field.default})')
    parser.add_argument('--force', action='store_true', help='regenerate even if present')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if osp.exists(args.out_dir) and not osp.isdir(args.out_dir):
        raise InputError(args.out_dir, 'is a file, not a folder',
                         'give a folder to write the scenes to (made if missing)')
    cfg = SceneConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SceneConfig)})
    if not args.force and is_generated(args.out_dir, cfg):
        print(f'[make_synthetic_scenes] {args.out_dir} is up to date; nothing to do')
        return
    start = time.time()
    counts = generate(args.out_dir, cfg)
    print(f'[make_synthetic_scenes] wrote {counts} to {args.out_dir} '
          f'in {time.time() - start:.1f}s')


if __name__ == '__main__':
    run_tool(main)
