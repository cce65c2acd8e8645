"""Keep only the backbone of a pretraining checkpoint, for downstream fine-tuning.

Keeps ``backbone.*`` (prefix kept, so ``init_cfg=dict(type='mmssl_ext.PretrainedBackbone',
prefix='backbone.')`` and mmengine's ``Pretrained`` with ``prefix='backbone.'`` read
both this file and the raw checkpoint); drops heads, necks, queues, momentum
and EMA copies, optimizer and message hub; keeps ``meta`` (with the source
path and the kept/dropped counts added).

    python tools/model_converters/extract_backbone.py \
        work_dirs/maskco/iter_500000.pth work_dirs/maskco/backbone.pth
    # detectron2's format (a pickle of numpy arrays, ResNet names converted):
    python tools/model_converters/extract_backbone.py IN.pth OUT.pkl --detectron2

With ``--config`` (the downstream config the backbone is for: an mmdet,
mmseg or mmpretrain config with ``model.backbone``), the backbone is checked
against that config's backbone by the rule of ``PretrainedBackbone``
(:mod:`mmssl_ext.utils.checkpoint_fit`) and nothing is written when it does
not fit::

    python tools/model_converters/extract_backbone.py IN.pth OUT.pth \
        --config configs/benchmarks/mmdetection/mask-rcnn_r50_fpn-syncbn_1x_coco.py

A DINO checkpoint gives its teacher's backbone (``teacher.module.backbone.*``,
what the paper evaluates), renamed to ``backbone.*``; ``--student`` keeps the
student's.
"""
import argparse
import os
import os.path as osp
import pickle
import sys

import torch

from mmssl_ext.utils.tool_errors import InputError, load_config, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='pretraining checkpoint (mmengine format)')
    parser.add_argument('output', help='where to write the backbone')
    parser.add_argument('--prefix', default='backbone.',
                        help='key prefix of the backbone in the checkpoint')
    parser.add_argument('--student', action='store_true',
                        help='of a checkpoint with an EMA teacher (DINO), keep the student')
    parser.add_argument('--config', help='a downstream config: refuse a backbone that does '
                        'not fit its model.backbone')
    parser.add_argument('--allow-partial', action='store_true',
                        help='with --config: write a backbone that fits only in part')
    parser.add_argument('--detectron2', action='store_true',
                        help='write detectron2\'s pickle format (ResNet backbones only)')
    return parser.parse_args()


def extract(checkpoint: dict, prefix: str = 'backbone.', prefer_teacher: bool = True) -> dict:
    """The backbone part of a loaded checkpoint, as a new checkpoint dict.

    Keys keep ``prefix``; a teacher's copy (see ``transfer_prefix``), read when
    ``prefer_teacher``, is renamed to it.
    """
    from mmssl_ext.utils.checkpoint_io import transfer_prefix
    if not isinstance(checkpoint, dict):
        raise ValueError(f'expected a checkpoint dict (mmengine format), got a '
                         f'{type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not state:
        raise ValueError('the checkpoint has no state_dict of tensors')
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f'the state_dict holds non-tensors under {not_tensors[:5]}: not a '
                         'model checkpoint')
    source = transfer_prefix(state, prefix, prefer_teacher)
    kept = {prefix + k[len(source):]: v for k, v in state.items() if k.startswith(source)}
    if not kept:
        prefixes = sorted({k.split('.')[0] + '.' for k in state})
        raise ValueError(f'no key starts with {prefix!r}; the checkpoint\'s prefixes are '
                         f'{prefixes}: pass the backbone\'s with --prefix')
    meta = dict(checkpoint.get('meta', {}) or {})
    meta.update(extracted_prefix=source, kept_tensors=len(kept),
                dropped_tensors=len(state) - len(kept))
    return dict(meta=meta, state_dict=kept)


def check_against_config(backbone: dict, config: str, prefix: str = 'backbone.',
                         allow_partial: bool = False, source: str = 'the checkpoint'):
    """Raise ``CheckpointMismatchError`` when ``backbone`` (from :func:`extract`)
    does not fit ``config``'s ``model.backbone``; returns the fit report."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.utils import import_modules_from_strings

    from mmssl_ext.models.utils import load_with_report
    cfg = load_config(config, fix=DOWNSTREAM_FIX)
    if 'backbone' not in cfg.model:
        raise InputError(config, 'has no model.backbone to check the backbone against',
                         'give the downstream config the backbone is for')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmssl_ext'))
    backbone_cfg = dict(cfg.model.backbone)
    backbone_cfg.pop('init_cfg', None)
    module = MODELS.build(backbone_cfg)
    return load_with_report(module, backbone['state_dict'], prefix, check=True,
                            checkpoint=source,
                            what=f'{type(module).__name__} (model.backbone of {config})',
                            allow_partial=allow_partial, partial_hint='--allow-partial')


# torchvision/mmpretrain ResNet names -> detectron2's (the MoCo/DetCon convention).
_D2_RENAMES = (('layer1', 'res2'), ('layer2', 'res3'), ('layer3', 'res4'), ('layer4', 'res5'),
               ('bn1', 'conv1.norm'), ('bn2', 'conv2.norm'), ('bn3', 'conv3.norm'),
               ('downsample.0', 'shortcut'), ('downsample.1', 'shortcut.norm'))


def to_detectron2(backbone: dict, prefix: str = 'backbone.') -> dict:
    """detectron2's pickled weights from an extracted ResNet backbone."""
    converted = {}
    for key, value in backbone['state_dict'].items():
        name = key[len(prefix):]
        if name.endswith('num_batches_tracked'):
            continue
        if not name.startswith('layer'):
            name = 'stem.' + name
        for old, new in _D2_RENAMES:
            name = name.replace(old, new)
        converted[name] = value.detach().cpu().numpy()
    return dict(model=converted, __author__='mmssl_ext', matching_heuristics=True)


DOWNSTREAM_FIX = 'give the downstream config the backbone is for (one with a model.backbone)'


def main() -> None:
    args = parse_args()
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
    from mmssl_ext.utils.checkpoint_io import load_checkpoint_file
    if args.config:  # a broken --config is reported before a large checkpoint is read
        load_config(args.config, fix=DOWNSTREAM_FIX)
    try:
        # weights_only: a checkpoint that would run code is refused, not executed.
        checkpoint = load_checkpoint_file(args.checkpoint, map_location='cpu')
        backbone = extract(checkpoint, args.prefix, prefer_teacher=not args.student)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as err:
        raise SystemExit(f'extract_backbone: {args.checkpoint}: {err}') from None
    from mmssl_ext.utils.checkpoint_fit import describe_architecture
    fit = ''
    if args.config:
        from mmssl_ext.utils.checkpoint_fit import CheckpointMismatchError
        try:
            report = check_against_config(backbone, args.config, args.prefix,
                                          args.allow_partial, source=args.checkpoint)
        except CheckpointMismatchError as err:
            raise SystemExit(f'extract_backbone: {err}') from None
        except (OSError, ValueError, KeyError, SyntaxError) as err:
            raise SystemExit(f'extract_backbone: --config {args.config}: '
                             f'{type(err).__name__}: {err}') from None
        fit = f'; fits {args.config}: {report.summary()}'
    architecture = describe_architecture(
        {k[len(args.prefix):]: v for k, v in backbone['state_dict'].items()})
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    if args.detectron2:
        with open(args.output, 'wb') as f:
            pickle.dump(to_detectron2(backbone, args.prefix), f)
    else:
        torch.save(backbone, args.output)
    meta = backbone['meta']
    print(f'{args.output}: kept {meta["kept_tensors"]} tensors under '
          f'{meta["extracted_prefix"]!r} as {args.prefix!r}, '
          f'dropped {meta["dropped_tensors"]}; {architecture}{fit}')


if __name__ == '__main__':
    run_tool(main)
