"""How well each saliency method finds the synthetic scenes' objects.

    python tools/analysis_tools/saliency_quality.py [--num 200] [--split val]

Renders scenes with the demo's generator (no files needed), thresholds each
method's map at 0.5 as ``SaliencyCopyPaste`` does, and prints the mean IoU
with the union of the scene's instance masks (and its standard error).
"""
import argparse
import time

from mmssl_ext.datasets.synthetic_scenes import SceneConfig, render_scene
from mmssl_ext.evaluation import saliency_foreground_iou
from mmssl_ext.structures import SALIENCY_METHODS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num', type=int, default=200, help='scenes to score')
    parser.add_argument('--split', default='val', choices=['train', 'val'])
    parser.add_argument('--threshold', type=float, default=0.5)
    parser.add_argument('--methods', nargs='+', default=sorted(SALIENCY_METHODS),
                        choices=sorted(SALIENCY_METHODS))
    args = parser.parse_args()
    cfg = SceneConfig()
    scenes = []
    for index in range(args.num):
        image, semantic, _ = render_scene(cfg, index, args.split)
        scenes.append((image, semantic > 0))
    print(f'{args.num} synthetic {args.split} scenes ({cfg.image_size} px), foreground = '
          f'instance masks, saliency >= {args.threshold}')
    print('| method | mean IoU | s.e. | ms / image |')
    print('|---|---|---|---|')
    for method in args.methods:
        start = time.perf_counter()
        row = saliency_foreground_iou(scenes, method, args.threshold)
        ms = (time.perf_counter() - start) * 1000 / args.num
        print(f'| {method} | {row["mean_iou"]:.3f} | {row["sem"]:.3f} | {ms:.1f} |')


if __name__ == '__main__':
    main()
