"""Train a self-supervised model (mmpretrain's CLI, working on CPU and torch 2.13).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
    bash tools/dist_train.sh CONFIG NUM_PROCS [args]
"""
import argparse

import mmssl_ext  # noqa: F401  (applies mmssl_ext.compat before any checkpoint load)
from mmssl_ext.utils.cli import add_launch_args, build_runner, merge_train_args, parse_launch_args
from mmssl_ext.utils.config_check import ConfigError, check_config
from mmssl_ext.utils.tool_errors import load_config, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU/NPU/MLU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual over the base batch size')
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, needs=('model', 'train_dataloader'), fix=(
        'give the path of a training config (run from the repo root, or use '
        '`mim train mmssl_ext CONFIG_NAME` to find it by name)'))
    cfg = merge_train_args(cfg, args)
    try:
        check_config(cfg)  # unknown keys, impossible combinations: before any building
    except ConfigError as err:
        raise SystemExit(f'{args.config}: {err}') from None
    build_runner(cfg, args.launcher).train()


if __name__ == '__main__':
    run_tool(main)
