"""The command line shared by tools/train.py and tools/test.py."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .dist import prepare_cpu_distributed


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local_rank``/``--local-rank``."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (e.g. train_cfg.max_iters=10)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch (used by `mim train --launcher pytorch`) passes
    # --local-rank since torch 2.0; older launchers pass --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that only pass the flag."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_runner(cfg: Config, launcher: str) -> Runner:
    """The Runner of ``cfg`` (or its ``runner_type``), CPU-distributed if need be."""
    prepare_cpu_distributed(cfg, launcher)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def _accelerator_available() -> bool:
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _set_dataloader_defaults(cfg: Config, args: argparse.Namespace) -> None:
    """pin_memory / persistent_workers on, as mmpretrain does, where they apply.

    torch's DataLoader rejects ``persistent_workers=True`` with
    ``num_workers=0`` (the small CPU configs), so it is only set with workers.
    """
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        workers = loader.get('num_workers', 0)
        loader.setdefault('pin_memory', torch.cuda.is_available())
        loader.setdefault('persistent_workers', workers > 0)
        loader.setdefault('collate_fn', dict(type='default_collate'))
        if getattr(args, 'no_pin_memory', False):
            loader.pin_memory = False
        if getattr(args, 'no_persistent_workers', False) or workers == 0:
            loader.persistent_workers = False


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply tools/train.py's arguments to ``cfg`` (mmpretrain semantics).

    Order: work dir, AMP, resume, lr scaling, dataloader defaults, then
    ``--cfg-options`` so that it can override anything, then the data
    preprocessor's non-blocking copies where the train loader pins memory.
    """
    if getattr(args, 'no_validate', False):
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if getattr(args, 'amp', False):
        if not _accelerator_available():
            raise SystemExit('--amp needs a GPU (or NPU/MLU/MUSA): mmengine\'s '
                             'AmpOptimWrapper does not run on the CPU. Drop --amp here.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    resume = getattr(args, 'resume', None)
    if resume == 'auto':
        # The newest checkpoint that opens, even if a kill cost the work dir its
        # last_checkpoint pointer (mmengine would then start from scratch).
        from .checkpoint_io import find_resumable_checkpoint
        cfg.resume = True
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
    elif resume is not None:
        if not osp.isfile(resume):
            raise SystemExit(f'--resume: checkpoint {resume!r} not found')
        cfg.resume = True
        cfg.load_from = resume
    if getattr(args, 'auto_scale_lr', False):
        if 'auto_scale_lr' not in cfg:
            raise SystemExit('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    _set_dataloader_defaults(cfg, args)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
        _drop_persistent_workers_without_workers(cfg)
    _set_non_blocking_copies(cfg)
    return cfg


def _set_non_blocking_copies(cfg: Config) -> None:
    """The data preprocessor's copy of each batch to the GPU without blocking
    where the train loader pins its batches (unless the config says).

    A blocking copy makes the host wait, every step, for all the work queued
    on the GPU before it; from pinned memory the copy is queued on the stream,
    before the kernels that read it.
    """
    loader = cfg.get('train_dataloader')
    if not loader or not loader.get('pin_memory'):
        return
    for preprocessor in ((cfg.get('model') or {}).get('data_preprocessor'),
                         cfg.get('data_preprocessor')):
        if isinstance(preprocessor, dict):
            preprocessor.setdefault('non_blocking', True)


def _drop_persistent_workers_without_workers(cfg: Config) -> None:
    """``--cfg-options ...num_workers=0`` on a config with persistent workers.

    torch's DataLoader refuses that pair; the user asked for no workers, so
    there is nothing to keep alive.
    """
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader and loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
            loader.persistent_workers = False
