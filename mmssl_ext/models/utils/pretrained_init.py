"""Loading pretrained backbone weights downstream, with a report that cannot be missed."""
import math
from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from torch import nn

from mmssl_ext.registry import WEIGHT_INITIALIZERS
from mmssl_ext.utils.checkpoint_fit import (CheckpointMismatchError, FitReport, check_fit,
                                            compare_state)
from mmssl_ext.utils.checkpoint_io import transfer_prefix


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
@WEIGHT_INITIALIZERS.register_module(name='PretrainedBackbone')
class PretrainedBackboneInit:
    """mmengine's ``Pretrained`` init, checked: a short report, and a loud failure.

    Loads the tensors under ``prefix`` of a checkpoint (a pretraining run's,
    or one made by ``tools/model_converters/extract_backbone.py``, which keeps
    the ``backbone.`` prefix) into the module. A ViT's ``pos_embed`` is resized
    to the module's patch grid (pretrained at 224 px, fine-tuned at 512).
    Then prints one line: how many of the module's parameters came from the
    checkpoint (BN statistics are loaded but not counted: they fit any
    checkpoint), and the first few missing, unexpected and shape-mismatched
    keys. Raises :class:`CheckpointMismatchError`, before anything is copied,
    when the checkpoint does not fit (:mod:`mmssl_ext.utils.checkpoint_fit`:
    a shape mismatch, under ``min_loaded`` of the module's parameters found,
    or most of the checkpoint's parameters for the module's layers unused),
    naming both architectures; a wrong prefix or none given fail too: each
    would otherwise train from a mostly random module, silently.

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
            module's parameters are loaded. Defaults to 0.5; 1.0 demands all.
        allow_partial (bool): load what fits and only report the rest (a
            genuinely partial transfer). Defaults to False.
        prefer_teacher (bool): of a checkpoint with an EMA teacher (DINO,
            whose paper evaluates the teacher), read the teacher's copy of
            ``prefix`` (``teacher.module.backbone.``); False reads the
            student's. Defaults to True.
    """

    def __init__(self, checkpoint: Optional[str], prefix: str = 'backbone.',
                 map_location: str = 'cpu', min_loaded: float = 0.5,
                 prefer_teacher: bool = True, allow_partial: bool = False) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix if prefix.endswith('.') or not prefix else prefix + '.'
        self.map_location = map_location
        self.min_loaded = min_loaded
        self.prefer_teacher = prefer_teacher
        self.allow_partial = allow_partial

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
        name = type(module).__name__
        report, matched = compare_state(module, state, prefix, adapt=_adapt)
        summary = (f'PretrainedBackbone: {name} <- {self.checkpoint} (prefix {prefix!r}): '
                   f'{report.summary()}')
        prefixes = sorted({k.split('.')[0] + '.' for k in state})[:8]
        if report.loaded == 0 and not report.mismatched:
            raise CheckpointMismatchError(
                f'{summary}. The {name} received nothing from the checkpoint: check the '
                f'prefix (the checkpoint\'s top-level prefixes are {prefixes}) and that it '
                f'holds this architecture (checkpoint: {report.checkpoint_architecture}; '
                f'module: {report.module_architecture}).')
        check_fit(report, name, self.checkpoint, prefix, min_loaded=self.min_loaded,
                  allow_partial=self.allow_partial,
                  partial_hint="allow_partial=True in this init_cfg (dict(type='Pretrained', "
                  "_scope_='mmssl_ext', ..., allow_partial=True))", prefixes=prefixes)
        module.load_state_dict(matched, strict=False)
        print_log(summary, logger='current')
        if hasattr(module, '_params_init_info'):
            from mmengine.model.weight_init import update_init_info
            update_init_info(module, init_info=f'PretrainedBackbone: load from {self.checkpoint}')


def load_with_report(module: nn.Module, state: Dict[str, torch.Tensor], prefix: str,
                     check: bool = False, **check_args) -> FitReport:
    """Copy ``state[prefix + key]`` into ``module``'s ``key`` where shapes match.

    ViT position embeddings are resized to the module's grid first. Returns
    the :class:`~mmssl_ext.utils.checkpoint_fit.FitReport` (parameters
    counted; BN statistics loaded but not counted). With ``check=True`` a
    checkpoint that does not fit (see :mod:`mmssl_ext.utils.checkpoint_fit`)
    raises :class:`CheckpointMismatchError` before anything is copied;
    ``check_args`` go to :func:`check_fit` (``what``, ``checkpoint``,
    ``allow_partial`` ...).
    """
    report, matched = compare_state(module, state, prefix, adapt=_adapt)
    if check:
        check_args.setdefault('what', type(module).__name__)
        check_args.setdefault('checkpoint', 'the checkpoint')
        check_fit(report, prefix=prefix, **check_args)
    module.load_state_dict(matched, strict=False)
    return report


def _adapt(key: str, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _resized_pos_embed(value, target) if key.endswith('pos_embed') else value


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


def load_frozen_backbone(backbone: nn.Module, checkpoint: str, prefix: str = 'backbone.',
                         prefer_teacher: bool = True) -> FitReport:
    """Load a checkpoint into a backbone that will be probed or visualised frozen.

    Strict in the sense of :mod:`~mmssl_ext.utils.checkpoint_fit`: a
    checkpoint of another architecture raises :class:`CheckpointMismatchError`
    (a half-random backbone must not be measured as a pretrained one).

    Args:
        backbone: built from its config.
        checkpoint: a pretraining checkpoint (``state_dict`` with ``prefix``),
            one of ``extract_backbone.py``, or a bare state dict (a
            torchvision ResNet's, ``prefix=''``: mmpretrain's ResNet uses
            torchvision's names); read ``weights_only``.
        prefix: the backbone's key prefix in the checkpoint.
        prefer_teacher: read DINO's EMA teacher (``teacher.module.backbone.``)
            where the checkpoint holds one, as its paper evaluates it.

    Returns:
        The fit report; the backbone is left in eval mode.
    """
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    loaded = load_checkpoint_file(checkpoint, map_location='cpu')
    state = dict(loaded.get('state_dict', loaded)) if isinstance(loaded, dict) else {}
    source = transfer_prefix(state, prefix, prefer_teacher=prefer_teacher) if prefix else prefix
    report = load_with_report(
        backbone, state, source, check=True, checkpoint=checkpoint,
        what=f'{type(backbone).__name__} (model.backbone)',
        prefixes=sorted({k.split('.')[0] + '.' for k in state})[:8])
    backbone.eval()
    return report


def build_frozen_backbone(backbone_cfg: dict, checkpoint: Optional[str] = None,
                          out_indices: Optional[tuple] = None, seed: int = 0) -> nn.Module:
    """A config's backbone for probing: built with ``seed`` and initialised
    as the Runner does (``init_weights``, its per-parameter log silenced),
    then loaded from ``checkpoint`` by :func:`load_frozen_backbone` (none:
    the random initialisation). ``out_indices`` overrides the stages it
    returns (``(2, 3)``: a ResNet's conv4 and conv5). Left in eval mode.
    """
    import copy
    import logging

    from mmengine.logging import MMLogger

    from mmssl_ext.registry import MODELS
    backbone_cfg = copy.deepcopy(backbone_cfg)
    if out_indices is not None:
        backbone_cfg['out_indices'] = out_indices
    torch.manual_seed(seed)
    backbone = MODELS.build(backbone_cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    try:
        backbone.init_weights()
    finally:
        logger.setLevel(level)
    if checkpoint is not None:
        load_frozen_backbone(backbone, checkpoint)
    backbone.eval()  # (mmpretrain's ResNet.train returns None, not the module)
    return backbone
