"""Layer-wise lr decay for detectors and segmenters on a plain ViT backbone."""
from typing import List

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn


def vit_layer_depth(name: str, num_layers: int) -> int:
    """Depth of a parameter of a model whose ``backbone`` is an mmpretrain ViT.

    0: the embeddings (``backbone.patch_embed``, ``pos_embed``, ``cls_token``);
    i + 1: ``backbone.layers.i``; ``num_layers``: the rest of the backbone
    (its final norm); ``num_layers + 1``: everything after the backbone
    (neck, heads), which keeps the base lr.
    """
    if name.startswith(('backbone.patch_embed', 'backbone.pos_embed', 'backbone.cls_token')):
        return 0
    if name.startswith('backbone.layers.'):
        return int(name.split('.')[2]) + 1
    if name.startswith('backbone.'):
        return num_layers
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """lr x ``layer_decay_rate ** (num_layers + 1 - depth)`` per parameter
    (:func:`vit_layer_depth`), no weight decay on 1-d parameters, position
    embedding and CLS token (BEiT's and MAE's fine-tuning rule).

    mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` does this for
    classifiers only: it asks the model for ``get_layer_depth``, which mmdet's
    detectors do not have.

    ``paramwise_cfg``: ``num_layers`` (the ViT's depth), ``layer_decay_rate``.
    """

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        num_layers = self.paramwise_cfg['num_layers']
        rate = self.paramwise_cfg['layer_decay_rate']
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            depth = vit_layer_depth(name, num_layers)
            no_decay = param.ndim == 1 or name.endswith(('pos_embed', 'cls_token'))
            scale = rate ** (num_layers + 1 - depth)
            group = groups.setdefault((depth, no_decay), dict(
                params=[], lr=self.base_lr * scale,
                weight_decay=0.0 if no_decay else self.base_wd))
            group['params'].append(param)
        params.extend(groups.values())
