"""Model wrappers for distributed runs on CPU processes (gloo)."""
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from torch import nn

from mmssl_ext.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU processes.

    mmengine's Runner passes ``device_ids=[LOCAL_RANK]``, which DDP rejects for
    a module on the CPU, and keeps SyncBN layers, whose kernels refuse CPU
    tensors. This wrapper drops the device ids and reverts SyncBN to BN
    (statistics then stay per process, as in mmengine's own non-distributed
    fallback). Used automatically by ``tools/train.py`` when a distributed
    launcher runs without CUDA.
    """

    def __init__(self, module: nn.Module, detect_anomalous_params: bool = False, **kwargs):
        kwargs['device_ids'] = None
        kwargs.pop('output_device', None)
        super().__init__(module=revert_sync_batchnorm(module),
                         detect_anomalous_params=detect_anomalous_params, **kwargs)
