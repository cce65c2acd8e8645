"""kNN (and linear) top-1 of a pretrained checkpoint on a labelled split pair.

Builds the pretraining config's model, loads the checkpoint's weights
(``weights_only``), embeds both splits with its ``extract_feat`` (pooled C5
for ResNets, the mean of the patch tokens for ViTs) and scores a weighted kNN
(k 20, T 0.07), as ``KNNMonitorHook`` does during training. The splits are
mmpretrain classification lists (``path label`` lines) under ``--data-root``.

    # ImageNet (a 10% train list keeps it quick):
    python tools/benchmarks/classification/knn_eval.py \
        configs/maskco/r50_8xb32_coco.py work_dirs/r50_8xb32_coco/iter_500000.pth \
        --data-root data/imagenet --train-list meta/train_10pct.txt --val-list meta/val.txt \
        --size 224
    # the synthetic scenes' image-level labels:
    python tools/benchmarks/classification/knn_eval.py \
        configs/maskco/maskco_r18_1xb32-600i_synthetic.py work_dirs/demo/.../iter_600.pth
"""
import argparse
import os.path as osp

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext.utils.tool_errors import load_config, require_file, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the pretraining config (builds the model)')
    parser.add_argument('checkpoint', help='its checkpoint (or an extracted backbone)')
    parser.add_argument('--data-root', default='data/synthetic_scenes')
    parser.add_argument('--train-list', default='train.txt', help='"path label" lines')
    parser.add_argument('--val-list', default='val.txt')
    parser.add_argument('--size', type=int, default=64, help='images resized to this square')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--linear', action='store_true', help='also a linear probe')
    parser.add_argument('--student', action='store_true',
                        help="of a checkpoint with an EMA teacher (DINO), probe the student's "
                        "backbone (default: the teacher's, which the paper evaluates)")
    parser.add_argument('--allow-partial', action='store_true',
                        help='score a backbone that the checkpoint fills only in part')
    return parser.parse_args()


def split_loader(data_root: str, ann_file: str, size: int, batch_size: int):
    return Runner.build_dataloader(dict(
        batch_size=batch_size, num_workers=2,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset', data_root=data_root, ann_file=ann_file,
                     data_prefix='', pipeline=[dict(type='LoadImageFromFile'),
                                               dict(type='Resize', scale=(size, size)),
                                               dict(type='PackInputs')])))


def main() -> None:
    args = parse_args()
    from mmssl_ext import register_all_modules
    from mmssl_ext.evaluation import dataset_features, knn_accuracy, linear_probe_accuracy
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config)
    for listing in (args.train_list, args.val_list):
        require_file(osp.join(args.data_root, listing), 'image list', 'point --data-root at a '
                     'folder with train.txt and val.txt ("path label" lines), e.g. the '
                     'synthetic scenes of `python tools/misc/make_synthetic_scenes.py`')
    init_default_scope(cfg.get('default_scope', 'mmssl_ext'))
    model_cfg = dict(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmssl_ext.models.utils import load_with_report
    from mmssl_ext.utils.checkpoint_io import transfer_prefix
    loaded = _load_checkpoint(args.checkpoint, map_location='cpu')
    state = dict(loaded.get('state_dict', loaded))
    source = transfer_prefix(state, 'backbone.', prefer_teacher=not args.student)
    if source != 'backbone.':
        # The teacher's backbone is what extract_feat (the student's path) embeds with.
        state.update({'backbone.' + k[len(source):]: v for k, v in state.items()
                      if k.startswith(source)})
        print(f'{args.checkpoint}: probing the teacher ({source}*); --student for the student')
    from mmssl_ext.utils.checkpoint_fit import CheckpointMismatchError
    try:
        # The backbone is what is scored: it must fit (the heads may differ).
        report = load_with_report(
            model.backbone, state, 'backbone.', check=True, checkpoint=args.checkpoint,
            what=f'the backbone of {args.config}', allow_partial=args.allow_partial,
            partial_hint='--allow-partial',
            prefixes=sorted({k.split('.')[0] + '.' for k in state})[:8])
    except CheckpointMismatchError as err:
        raise SystemExit(f'knn_eval: {err}') from None
    # The rest where it fits: LooC's concatenated embedding reads its heads.
    load_with_report(model, state, prefix='')
    print(f'{args.checkpoint}: backbone {report.summary()}')
    if torch.cuda.is_available():
        model = model.cuda()
    train = dataset_features(model, split_loader(args.data_root, args.train_list, args.size,
                                                 args.batch_size))
    val = dataset_features(model, split_loader(args.data_root, args.val_list, args.size,
                                               args.batch_size))
    knn = knn_accuracy(*train, *val, k=args.k, temperature=args.temperature)
    print(f'kNN top-1 (k {args.k}, T {args.temperature}): {knn:.2f}% '
          f'({len(train[0])} train, {len(val[0])} val, {train[0].shape[1]}-d)')
    if args.linear:
        print(f'linear top-1: {linear_probe_accuracy(*train, *val):.2f}%')


if __name__ == '__main__':
    run_tool(main)
