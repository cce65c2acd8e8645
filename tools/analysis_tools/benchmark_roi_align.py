"""Time MaskCo's region pooling: torchvision's RoIAlign (ours) against mmcv's.

    python tools/analysis_tools/benchmark_roi_align.py [--repeats 20]

Forward and backward of the average of the RoIAlign bins at two shapes: the
CPU demo config's (32 images x 17 boxes on a 2 x 2 x 512 C5 map, 3 x 3 bins)
and the full-size config's (32 x 17 boxes on 7 x 7 x 2048, 7 x 7 bins; one
GPU's batch). Median milliseconds over ``--repeats`` alternating runs.
"""
import argparse
import statistics
import time

import torch

from mmssl_ext.models.utils import boxes_to_rois, region_features

SHAPES = {'demo (r18, 64 px)': (32, 17, 512, 2, 3), 'full (r50, 224 px)': (32, 17, 2048, 7, 7)}


def mmcv_region_features(features, boxes, stride, output_size):
    from mmcv.ops import RoIAlign
    b, n = boxes.shape[:2]
    pooled = RoIAlign(output_size, spatial_scale=1.0 / stride, sampling_ratio=0,
                      aligned=True)(features, boxes_to_rois(boxes))
    return pooled.mean(dim=(2, 3)).view(b, n, -1)


def step_ms(pool, features, boxes, output_size) -> float:
    features = features.detach().requires_grad_()
    start = time.perf_counter()
    pool(features, boxes, 32, output_size).sum().backward()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; forward + backward, '
          f'median of {args.repeats}')
    print('| shape | torchvision (ms) | mmcv (ms) | mmcv / torchvision |')
    print('|---|---|---|---|')
    for name, (b, n, c, side, bins) in SHAPES.items():
        features = torch.randn(b, c, side, side)
        xy = torch.rand(b, n, 2) * side * 32 * 0.6
        boxes = torch.cat([xy, xy + 32 + torch.rand(b, n, 2) * 96], dim=2).clamp(max=side * 32)
        times = {'torchvision': [], 'mmcv': []}
        for _ in range(args.repeats):  # alternate, so drift hits both alike
            times['torchvision'].append(step_ms(region_features, features, boxes, bins))
            times['mmcv'].append(step_ms(mmcv_region_features, features, boxes, bins))
        tv, mm = (statistics.median(times[k]) for k in ('torchvision', 'mmcv'))
        print(f'| {name} | {tv:.2f} | {mm:.2f} | {mm / tv:.2f} |')


if __name__ == '__main__':
    main()
