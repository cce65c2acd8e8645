"""Host data to the model's device without a host sync."""
from typing import Optional

import torch


def host_to_device(data, device, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """A host array or tensor as a tensor on ``device`` (of ``dtype`` when given;
    ``device`` None: where it is).

    To a GPU the copy goes from pinned memory without blocking: it is queued
    on the current stream before the kernels that read it, and the host does
    not wait for the GPU's queued work (a copy from pageable memory would).
    """
    tensor = torch.as_tensor(data)
    if device is not None and torch.device(device).type == 'cuda' and not tensor.is_cuda:
        return tensor.pin_memory().to(device, dtype=dtype, non_blocking=True)
    return tensor.to(device, dtype=dtype)
