"""Loading pretrained backbone weights downstream, with a report that cannot be missed."""
import math
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log
from torch import nn

from mmssl_ext.registry import WEIGHT_INITIALIZERS
from mmssl_ext.utils.checkpoint_io import transfer_prefix


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
@WEIGHT_INITIALIZERS.register_module(name='PretrainedBackbone')
class PretrainedBackboneInit:
    """mmengine's ``Pretrained`` init, checked: a short report, and a loud failure.

    Loads the tensors under ``prefix`` of a checkpoint (a pretraining run's,
    or one made by ``tools/model_converters/extract_backbone.py``, which keeps
    the ``backbone.`` prefix) into the module. A ViT's ``pos_embed`` is resized
    to the module's patch grid (pretrained at 224 px, fine-tuned at 512).
    Then prints one line: how many
    of the module's tensors came from the checkpoint, and the first few
    missing, unexpected and shape-mismatched keys. Raises when the module
    received nothing: a wrong prefix, a checkpoint of another architecture, or
    none given, would otherwise train from scratch silently.

    Used from any OpenMMLab scope (mmdet, mmseg, mmpretrain), with
    ``custom_imports=dict(imports=['mmssl_ext.models'])``, as
    ``init_cfg=dict(type='Pretrained', _scope_='mmssl_ext', checkpoint=...)``.
    The name matters: mmengine applies an init named ``Pretrained`` *after*
    the submodules' own ``init_weights`` (which would otherwise overwrite the
    loaded weights: mmpretrain's ViT layers re-initialise their MLPs), and
    mmpretrain's ViT then keeps its position embedding; ``_scope_`` picks this
    checked version instead of mmengine's. ``mmssl_ext.PretrainedBackbone``
    is the same initializer for backbones that treat ``Pretrained`` with a
    loader of their own (mmseg's ``MAE``), where it runs inside their
    ``init_weights``, after their own initialisation. Loading stays
    ``weights_only=True`` (``mmssl_ext.compat`` allow-lists what mmengine
    checkpoints hold).

    Args:
        checkpoint (str): path or URL of the checkpoint.
        prefix (str): key prefix of the module's tensors in it. Defaults to
            ``'backbone.'``.
        map_location (str): Defaults to ``'cpu'``.
        min_loaded (float): fail when fewer than this fraction of the
            module's tensors are loaded. Defaults to 0 (fail only on none);
            1.0 demands all.
        prefer_teacher (bool): of a checkpoint with an EMA teacher (DINO,
            whose paper evaluates the teacher), read the teacher's copy of
            ``prefix`` (``teacher.module.backbone.``); False reads the
            student's. Defaults to True.
    """

    def __init__(self, checkpoint: Optional[str], prefix: str = 'backbone.',
                 map_location: str = 'cpu', min_loaded: float = 0.0,
                 prefer_teacher: bool = True) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix if prefix.endswith('.') or not prefix else prefix + '.'
        self.map_location = map_location
        self.min_loaded = min_loaded
        self.prefer_teacher = prefer_teacher

    def __call__(self, module: nn.Module) -> None:
        from mmengine.runner.checkpoint import _load_checkpoint

        import mmssl_ext.compat  # noqa: F401  (weights_only allow-list)
        if not self.checkpoint:
            raise ValueError(
                'PretrainedBackbone: no checkpoint given. Pass the pretrained weights, e.g. '
                '--cfg-options model.backbone.init_cfg.checkpoint=work_dirs/run/epoch_200.pth')
        loaded = _load_checkpoint(self.checkpoint, map_location=self.map_location)
        state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
        prefix = transfer_prefix(state, self.prefix, self.prefer_teacher)
        report = load_with_report(module, state, prefix)
        name = type(module).__name__
        summary = (f'PretrainedBackbone: {name} <- {self.checkpoint} (prefix '
                   f'{prefix!r}): {report["loaded"]}/{report["total"]} tensors loaded'
                   f'{_listing("missing", report["missing"])}'
                   f'{_listing("unexpected", report["unexpected"])}'
                   f'{_listing("shape mismatch", report["mismatched"])}')
        if report['loaded'] == 0 or report['loaded'] < self.min_loaded * report['total']:
            prefixes = sorted({k.split('.')[0] + '.' for k in state})[:8]
            amount = 'nothing' if not report['loaded'] else 'too little'
            raise RuntimeError(
                f'{summary}. The {name} received {amount} from the checkpoint: check the '
                f'prefix (the checkpoint\'s top-level prefixes are {prefixes}) and that it '
                'holds this architecture.')
        print_log(summary, logger='current')
        if hasattr(module, '_params_init_info'):
            from mmengine.model.weight_init import update_init_info
            update_init_info(module, init_info=f'PretrainedBackbone: load from {self.checkpoint}')


def load_with_report(module: nn.Module, state: Dict[str, torch.Tensor],
                     prefix: str) -> Dict[str, object]:
    """Copy ``state[prefix + key]`` into ``module``'s ``key`` where shapes match.

    Returns:
        ``loaded`` and ``total`` counts of the module's state tensors (BN's
        ``num_batches_tracked`` counters not counted);
        ``missing`` (the module's keys left as they were), ``unexpected``
        (checkpoint keys under the prefix the module lacks) and ``mismatched``
        (``key: checkpoint shape vs module shape``) lists.
    """
    own = module.state_dict()
    wanted = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    matched, mismatched = {}, []
    for key, value in wanted.items():
        if key in own and key.endswith('pos_embed'):
            value = _resized_pos_embed(value, own[key])
        if key in own:
            if tuple(own[key].shape) == tuple(value.shape):
                matched[key] = value
            else:
                mismatched.append(f'{key}: {tuple(value.shape)} vs {tuple(own[key].shape)}')
    module.load_state_dict(matched, strict=False)
    # BN's step counters match any checkpoint's: they are no evidence of a load.
    counted = [k for k in own if not k.endswith('num_batches_tracked')]
    bad_shape = {m.split(':')[0] for m in mismatched}
    return dict(loaded=sum(k in matched for k in counted), total=len(counted),
                missing=[k for k in counted if k not in matched and k not in bad_shape],
                unexpected=[k for k in wanted if k not in own], mismatched=mismatched)


def _resized_pos_embed(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A ViT's (1, extra + h * w, C) position embedding resized (bicubic, as
    mmpretrain's ``resize_pos_embed``) to the target's square grid, when only
    the grid differs (pretrained at 224 px, fine-tuned at 512 px ...);
    anything else is returned as it is."""
    from mmpretrain.models.utils import resize_pos_embed
    if value.dim() != 3 or target.dim() != 3 or value.shape[-1] != target.shape[-1] \
            or value.shape[1] == target.shape[1]:
        return value
    src_side = int(math.isqrt(value.shape[1]))
    extra = value.shape[1] - src_side ** 2
    dst_side = int(math.isqrt(target.shape[1] - extra)) if target.shape[1] > extra else 0
    if extra > 1 or dst_side ** 2 + extra != target.shape[1]:
        return value
    return resize_pos_embed(value, (src_side, src_side), (dst_side, dst_side),
                            num_extra_tokens=extra).to(value.dtype)


def _listing(what: str, keys: List[str], shown: int = 3) -> str:
    if not keys:
        return ''
    more = f' (+{len(keys) - shown} more)' if len(keys) > shown else ''
    return f'; {len(keys)} {what}: {", ".join(keys[:shown])}{more}'
