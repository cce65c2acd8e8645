"""Channels-last (NHWC) memory format for convolutional models."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmssl_ext.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Store the model's 4-D tensors (conv weights) channels-last before training.

    A convolution whose weight is channels-last returns channels-last output
    for a contiguous (N, C, H, W) input, and the layers after it keep that
    format, so the input batches need no conversion. Tensor core convolutions
    (AMP on Ampere and later) and oneDNN on the CPU run faster on that layout;
    the maths is unchanged. ResNets gain, ViTs (linear layers on tokens) do not.

    The conversion runs in ``before_train``: after the weights are initialised
    and a checkpoint is loaded (an in-place random init fills a channels-last
    tensor in memory order, so converting first would draw other weights for
    the same seed), and after the Runner wrapped the model (DDP included): the
    parameters keep their identity, only their strides change, and DDP
    rebuilds its gradient buckets to the new strides after its first
    iteration.

    Usage: ``custom_hooks = [dict(type='ChannelsLastHook')]``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        self.convert(runner.model)

    @staticmethod
    def convert(model: nn.Module) -> nn.Module:
        """Convert ``model`` (or the module a wrapper holds) in place."""
        module = model.module if is_model_wrapper(model) else model
        return module.to(memory_format=torch.channels_last)
