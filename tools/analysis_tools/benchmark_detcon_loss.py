"""DetConLoss's memory and time against the batch: the whole batch at once or in blocks.

    python tools/analysis_tools/benchmark_detcon_loss.py [--images 32 64 128 256]
        [--processes 16] [--masks 16] [--dim 256] [--blocks 0 32] [--device cpu|cuda]

One forward and backward per row (``mmssl_ext.analysis.benchmark.detcon_loss_memory``)
on one process: ``--images`` predictions of this process against the targets
of ``images x processes`` gathered images (16 x 256 = 4096 in the shipped
recipes). Prints a Markdown table: what autograd saves for the backward (the
saved-tensors hook; any device), the peak allocated (CUDA), the time, and
the loss (equal across blocks). ``--blocks 0`` is the whole batch at once.
"""
import argparse
import sys
from typing import List, Optional

from mmssl_ext.utils.tool_errors import run_tool


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, nargs='+', default=[16, 32, 64])
    parser.add_argument('--processes', type=int, default=16)
    parser.add_argument('--masks', type=int, default=16)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--blocks', type=int, nargs='+', default=[0, 32])
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    from mmssl_ext.analysis.benchmark import detcon_loss_memory
    print('| images / process | gathered | blocks | saved for backward MiB | one logits '
          'tensor MiB | peak MiB | ms | loss |')
    print('|---|---|---|---|---|---|---|---|')
    for images in args.images:
        for block in args.blocks:
            row = detcon_loss_memory(images, images * args.processes, args.masks, args.dim,
                                     block or None, args.device)
            peak = '-' if row['peak_mib'] is None else f'{row["peak_mib"]:.0f}'
            print(f'| {images} | {row["gathered"]} | {block or "whole"} | '
                  f'{row["saved_mib"]:.1f} | {row["logits_mib"]:.1f} | {peak} | '
                  f'{row["ms"]:.0f} | {row["loss"]:.6f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
