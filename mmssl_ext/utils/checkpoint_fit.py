"""Does a checkpoint fit a module? One rule for every loader of pretrained weights.

A checkpoint of another architecture shares names with the module it is
loaded into: a ResNet-50's ``layer1.0.conv2.weight`` exists in a ResNet-18
too, BatchNorm statistics exist everywhere. Loading "what matches" then
fills a few tensors and leaves the module mostly random, and the count of
"loaded tensors" looks healthy because BN buffers always match. The rule
here, used by ``PretrainedBackbone`` (mmdet, mmseg, mmpretrain transfer),
``tools/model_converters/extract_backbone.py --config`` and
``tools/benchmarks/classification/knn_eval.py`` (``load_from`` and
``--resume`` are strict, by ``CheckpointMatchHook``):

* only **parameters** are evidence of a load (BN's ``running_mean``,
  ``running_var``, ``num_batches_tracked`` and other buffers are loaded
  where they fit, but not counted);
* any **shape mismatch** refuses the checkpoint;
* fewer than ``min_loaded`` (half) of the module's parameters loaded refuses it;
* more than half of the checkpoint's parameters left **unused**, among the
  checkpoint's top-level modules that the module also has, refuses it. (A
  C4 detector's backbone has no ``layer4`` and its RoI head is nothing but a
  ``layer4``: the checkpoint's other stages are not for them, but a ResNet-50
  checkpoint's extra blocks and ``conv3`` in a ResNet-18's ``layer1`` are.)

``allow_partial=True`` turns every refusal into the report alone. The error
names the checkpoint's architecture and the module's, as far as the tensors
tell (ResNet depth, block type and stage widths; ViT patch size, width and
depth), and the ways out.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

__all__ = ['CheckpointMismatchError', 'FitReport', 'compare_state', 'check_fit',
           'describe_architecture', 'is_statistic']


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not hold the architecture of the module it is loaded into."""


# Buffers that every network with BatchNorm has: never evidence of a load.
_STATISTICS = ('running_mean', 'running_var', 'num_batches_tracked')


def is_statistic(key: str) -> bool:
    """Whether ``key`` names a normalisation statistic (a buffer, not a weight)."""
    return key.rsplit('.', 1)[-1] in _STATISTICS


@dataclass
class FitReport:
    """How a checkpoint's tensors under a prefix meet a module's state.

    Keys are the module's (the prefix removed). ``loaded``/``total`` count the
    module's parameters; ``used``/``offered`` count the checkpoint's
    parameters (statistics excluded) under the prefix whose top-level module
    the module has too.
    """

    loaded: int = 0
    total: int = 0
    used: int = 0
    offered: int = 0
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    checkpoint_architecture: str = ''
    module_architecture: str = ''

    def summary(self) -> str:
        """``45/60 parameters loaded; 3 missing: ...; 2 unexpected: ...``"""
        return (f'{self.loaded}/{self.total} parameters loaded (BN statistics not counted)'
                f'{_listing("missing", self.missing)}'
                f'{_listing("unexpected", self.unexpected)}'
                f'{_listing("shape mismatch", self.mismatched)}')

    def problems(self, min_loaded: float = 0.5) -> List[str]:
        """Why the checkpoint does not fit; empty when it does."""
        found = []
        if self.mismatched:
            found.append(f'{len(self.mismatched)} tensors have another shape in the '
                         'checkpoint')
        if self.total and self.loaded < max(min_loaded * self.total, 1e-9):
            found.append(f'only {self.loaded} of the module\'s {self.total} parameters '
                         'are in the checkpoint')
        if self.offered and self.used * 2 < self.offered:
            found.append(f'{self.offered - self.used} of the checkpoint\'s {self.offered} '
                         'parameters for these layers would go unused')
        return found


def _listing(what: str, keys: List[str], shown: int = 3) -> str:
    if not keys:
        return ''
    more = f' (+{len(keys) - shown} more)' if len(keys) > shown else ''
    return f'; {len(keys)} {what}: {", ".join(keys[:shown])}{more}'


def compare_state(module: nn.Module, state: Mapping[str, torch.Tensor], prefix: str = '',
                  adapt=None) -> Tuple[FitReport, Dict[str, torch.Tensor]]:
    """Match ``state[prefix + key]`` against ``module``'s ``key``.

    Args:
        module: the module to be loaded.
        state: a checkpoint's ``state_dict``.
        prefix: the module's key prefix in ``state`` (``'backbone.'``).
        adapt: optional ``(key, checkpoint value, module value) -> value``
            applied before the shape comparison (a ViT's position embedding
            resized to the module's grid).

    Returns:
        The report, and the tensors that fit (module keys), ready for
        ``module.load_state_dict(matched, strict=False)``.
    """
    own = module.state_dict()
    parameters = {name for name, _ in module.named_parameters()}
    wanted = {k[len(prefix):]: v for k, v in state.items()
              if k.startswith(prefix) and isinstance(v, torch.Tensor)}
    matched, mismatched = {}, []
    for key, value in wanted.items():
        if key not in own:
            continue
        if adapt is not None:
            value = adapt(key, value, own[key])
        if tuple(own[key].shape) == tuple(value.shape):
            matched[key] = value
        else:
            mismatched.append(f'{key}: {tuple(value.shape)} vs {tuple(own[key].shape)}')
    bad_shape = {m.split(':')[0] for m in mismatched}
    module_groups = {k.split('.', 1)[0] for k in own}
    offered = [k for k in wanted if not is_statistic(k) and k.split('.', 1)[0] in module_groups
               and (k in parameters or k not in own)]
    report = FitReport(
        loaded=sum(k in matched for k in parameters), total=len(parameters),
        used=sum(k in matched for k in offered), offered=len(offered),
        missing=[k for k in own if k not in matched and k not in bad_shape
                 and not k.endswith('num_batches_tracked')],
        unexpected=[k for k in wanted if k not in own], mismatched=mismatched,
        checkpoint_architecture=describe_architecture(wanted),
        module_architecture=describe_architecture(own))
    return report, matched


def check_fit(report: FitReport, what: str, checkpoint: str, prefix: str,
              min_loaded: float = 0.5, allow_partial: bool = False,
              partial_hint: str = 'allow_partial=True',
              prefixes: Optional[List[str]] = None) -> None:
    """Raise :class:`CheckpointMismatchError` when ``report`` shows a bad fit.

    Args:
        report: from :func:`compare_state`.
        what: the module, for the message (``'ResNet (model.backbone)'``).
        checkpoint: its path, for the message.
        prefix: the prefix read.
        min_loaded: the fraction of the module's parameters that must load.
        allow_partial: report only, never raise.
        partial_hint: how the caller spells ``allow_partial`` (a config key,
            a command-line flag).
        prefixes: the checkpoint's top-level prefixes, offered as other
            prefixes to try.
    """
    if allow_partial:
        return
    problems = report.problems(min_loaded)
    if not problems:
        return
    others = f" (its top-level prefixes: {', '.join(prefixes)})" if prefixes else ''
    raise CheckpointMismatchError(
        f'{checkpoint} does not fit {what}: {"; ".join(problems)}.\n'
        f'  checkpoint ({prefix!r}): {report.checkpoint_architecture}\n'
        f'  module: {report.module_architecture}\n'
        f'  {report.summary()}\n'
        f'Fix: pass a checkpoint of this architecture, or make the module the '
        f'checkpoint\'s (depth, widths, patch size above); read another prefix of the '
        f'checkpoint{others}; or, to keep the layers that do fit and train the rest from '
        f'scratch, set {partial_hint}.')


# ---------------------------------------------------------------------------
# The architecture a state dict holds, as far as its tensors tell.
# ---------------------------------------------------------------------------
_RESNET_CONV = re.compile(r'(?:^|\.)layer(\d)\.(\d+)\.conv(\d)\.weight$')
_VIT_PATCH = re.compile(r'(?:^|\.)patch_embed\.(?:projection|proj)\.weight$')
_VIT_LAYER = re.compile(r'(?:^|\.)(?:layers|blocks)\.(\d+)\.')
_STANDARD_DEPTHS = {(2, 2, 2, 2, False): 18, (3, 4, 6, 3, False): 34, (3, 4, 6, 3, True): 50,
                    (3, 4, 23, 3, True): 101, (3, 8, 36, 3, True): 152}
_GROUPS = ('backbone', 'neck', 'head', 'rpn_head', 'roi_head', 'decode_head',
           'auxiliary_head', 'teacher', 'target_generator')


def _describe_resnet(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    blocks: Dict[int, int] = {}
    last_conv: Dict[Tuple[int, int], Tuple[int, torch.Tensor]] = {}
    for key, value in state.items():
        match = _RESNET_CONV.search(key)
        if not match:
            continue
        stage, block, conv = (int(g) for g in match.groups())
        blocks[stage] = max(blocks.get(stage, 0), block + 1)
        if (stage, block) not in last_conv or conv > last_conv[(stage, block)][0]:
            last_conv[(stage, block)] = (conv, value)
    if not blocks:
        return None
    bottleneck = any(conv == 3 for conv, _ in last_conv.values())
    stages = sorted(blocks)
    counts = [blocks[s] for s in stages]
    widths = [int(last_conv[(s, 0)][1].shape[0]) for s in stages if (s, 0) in last_conv]
    kind = 'Bottleneck' if bottleneck else 'BasicBlock'
    depth = _STANDARD_DEPTHS.get((*counts, bottleneck)) if stages == [1, 2, 3, 4] else None
    if depth is not None:
        name = f'ResNet-{depth}'
    elif stages == [1, 2, 3, 4]:
        name = f'ResNet-{2 + (3 if bottleneck else 2) * sum(counts)}'
    else:
        name = f'ResNet stages layer{stages[0]}-layer{stages[-1]}'
    return (f'{name} ({kind}, blocks {"-".join(map(str, counts))}, '
            f'widths {"-".join(map(str, widths))})')


def _describe_vit(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    patch = next((v for k, v in state.items() if _VIT_PATCH.search(k)), None)
    layers = {int(m.group(1)) for k in state for m in [_VIT_LAYER.search(k)] if m}
    if patch is None:
        return None
    width, _, ph, pw = patch.shape
    size = f'{ph}' if ph == pw else f'{ph}x{pw}'
    return f'ViT (patch {size}, width {width}, depth {len(layers)})'


def describe_architecture(state: Mapping[str, torch.Tensor]) -> str:
    """``'ResNet-50 (Bottleneck, blocks 3-4-6-3, widths 256-512-1024-2048)'``,
    ``'ViT (patch 16, width 768, depth 12)'``, or for a whole model
    ``'backbone ResNet-50 (...) with neck, rpn_head, roi_head'``; otherwise
    the tensor count and the first top-level names."""
    if not state:
        return 'no tensors'
    groups = sorted({k.split('.', 1)[0] for k in state})
    model_groups = [g for g in groups if g in _GROUPS]
    if 'backbone' in model_groups:
        backbone = {k[len('backbone.'):]: v for k, v in state.items()
                    if k.startswith('backbone.')}
        others = [g for g in groups if g != 'backbone']
        rest = f' with {", ".join(others[:6])}' if others else ''
        return f'backbone {describe_architecture(backbone)}{rest}'
    found = _describe_vit(state) or _describe_resnet(state)
    if found:
        return found
    shown = ', '.join(groups[:6]) + (', ...' if len(groups) > 6 else '')
    return f'{len(state)} tensors under {shown}'
