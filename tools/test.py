"""Evaluate a checkpoint with a config's test loop (mmpretrain's CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args]

The checkpoint is loaded with ``weights_only=True`` (see mmssl_ext.compat).
"""
import argparse

import mmssl_ext  # noqa: F401  (applies mmssl_ext.compat before the checkpoint load)
from mmssl_ext.utils.cli import add_launch_args, build_runner, merge_train_args, parse_launch_args
from mmssl_ext.utils.tool_errors import load_config, require_file, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument('--out', help='dump the evaluation metrics to this JSON/pickle file')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    if cfg.get('test_dataloader') is None:
        raise SystemExit(f'{args.config} has no test_dataloader/test_evaluator: a pretraining '
                         'config has nothing to test; use an evaluation config '
                         '(e.g. a linear probe or kNN config) with this checkpoint')
    require_file(args.checkpoint, 'checkpoint', "give a checkpoint file (a work dir's "
                 'iter_N.pth, or a backbone from tools/model_converters/extract_backbone.py)')
    cfg = merge_train_args(cfg, args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    runner = build_runner(cfg, args.launcher)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        from mmengine.fileio import dump
        dump(metrics, args.out)
        print(f'metrics written to {args.out}')


if __name__ == '__main__':
    run_tool(main)
