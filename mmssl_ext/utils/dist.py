"""Distributed set-up that mmengine 0.10.7 gets wrong without CUDA."""
import os
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

CPU_WRAPPER = 'mmssl_ext.CPUDistributedDataParallel'


def prepare_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Make a distributed launch work on CPU-only machines (gloo backend).

    mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and
    fails without CUDA, and its DDP wrapper passes ``device_ids=[LOCAL_RANK]``.
    When ``launcher`` is not ``'none'`` and CUDA is unavailable this

    * initialises the default process group with gloo from the launcher's
      environment (torchrun's ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``, or
      Slurm's ``SLURM_PROCID``/``SLURM_NTASKS``), so the Runner skips its own
      init;
    * swaps the model wrapper for :class:`CPUDistributedDataParallel`,
      keeping the config's other wrapper options.

    Returns:
        True if the CPU path was taken.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        if launcher == 'slurm':
            os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
            os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
            os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
            os.environ.setdefault('MASTER_PORT', '29500')
            os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        elif launcher == 'mpi':
            os.environ.setdefault('RANK', os.environ['OMPI_COMM_WORLD_RANK'])
            os.environ.setdefault('WORLD_SIZE', os.environ['OMPI_COMM_WORLD_SIZE'])
            os.environ.setdefault('LOCAL_RANK',
                                  os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
            os.environ.setdefault('MASTER_PORT', '29500')
            os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800)
        torch_dist.init_process_group(backend='gloo', timeout=timedelta(seconds=timeout))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') in ('MMDistributedDataParallel',
                                                            'mmengine.MMDistributedDataParallel'):
        wrapper['type'] = CPU_WRAPPER
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    if cfg.get('sync_bn'):
        # torch's SyncBatchNorm refuses CPU tensors.
        cfg.sync_bn = None
    return True
