"""LARS without reading each layer's norms on the host."""
from typing import Callable, List, Optional

import torch
from mmpretrain.engine.optimizers import LARS

from mmssl_ext.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class SyncFreeLARS(LARS):
    """mmpretrain's ``LARS`` (You et al. 2017, Algorithm 1), with the trust
    ratio computed on the device.

    mmpretrain's step reads ``torch.norm(p).item()`` and the gradient's norm
    for every parameter: on a GPU, two waits for the device per layer (about
    110 per step for a ResNet-50 with its MLPs), each stalling the queue of
    kernels. Here the norms of a group come from one ``torch._foreach_norm``
    call, and the trust ratio ``eta * |w| / (|g| + wd * |w| + eps)`` (1 where
    either norm is 0, or for ``lars_exclude`` groups) stays a tensor. The
    update is mmpretrain's, term by term: the same values up to float
    rounding of the ratio (fp32 here, float64 on the host there). Same
    arguments and state (``momentum_buffer``), so checkpoints interchange.
    """

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: List[torch.Tensor] = [p for p in group['params'] if p.grad is not None]
            if not params:
                continue
            weight_decay, momentum = group['weight_decay'], group['momentum']
            dampening, nesterov, lr = group['dampening'], group['nesterov'], group['lr']
            grads = [p.grad for p in params]
            if group.get('lars_exclude', False):
                ratios = [None] * len(params)
            else:
                weight_norms = torch._foreach_norm(params)
                grad_norms = torch._foreach_norm(grads)
                ratios = [
                    torch.where((w != 0) & (g != 0),
                                group['eta'] * w / (g + weight_decay * w + self.eps),
                                torch.ones_like(w))
                    for w, g in zip(weight_norms, grad_norms)]
            for p, d_p, ratio in zip(params, grads, ratios):
                d_p = d_p.add(p, alpha=weight_decay)
                d_p = d_p.mul(lr) if ratio is None else d_p.mul(ratio * lr)
                if momentum != 0:
                    state = self.state[p]
                    if 'momentum_buffer' not in state:
                        buf = state['momentum_buffer'] = torch.clone(d_p).detach()
                    else:
                        buf = state['momentum_buffer']
                        buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
                    d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
                p.add_(-d_p)
        return loss
