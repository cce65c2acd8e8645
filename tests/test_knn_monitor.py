"""KNNMonitorHook: online kNN/linear evaluation logged during pretraining."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from .conftest import REPO_ROOT, SMALL_CONFIG


def _labelled(root, split, pipeline_size=64):
    return dict(
        batch_size=16, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset', data_root=root, ann_file=f'{split}.txt',
                     data_prefix='',
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='Resize', scale=(pipeline_size, pipeline_size)),
                               dict(type='PackInputs')]))


def test_knn_monitor_logs_knn_and_linear_to_the_visualizer(tmp_path, synthetic_root):
    from mmengine.runner import Runner

    from mmssl_ext.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(SMALL_CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.data_root = synthetic_root
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.model.queue_len = 64
    cfg.train_cfg.max_iters = 3
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 100
    cfg.custom_hooks = [dict(type='KNNMonitorHook', interval=2, linear=True,
                             train_dataloader=_labelled(synthetic_root, 'train'),
                             val_dataloader=_labelled(synthetic_root, 'val'))]
    runner = Runner.from_cfg(cfg)
    runner.train()
    [hook] = [h for h in runner.hooks if type(h).__name__ == 'KNNMonitorHook']
    scalars = [json.loads(line) for line in open(_find(str(tmp_path), 'scalars.json'))]
    logged = [s for s in scalars if 'knn/top1' in s]
    # at iteration 2 (interval) and after the last one (3)
    assert [s['step'] for s in logged] == [2, 3]
    for s in logged:
        assert 0 <= s['knn/top1'] <= 100 and 0 <= s['linear/top1'] <= 100
    # The logged value is the kNN of the model's features, recomputed here.
    from mmssl_ext.evaluation import knn_accuracy
    model = runner.model
    tr, trl = hook._features(model, hook._loaders['train'])
    va, val = hook._features(model, hook._loaders['val'])
    assert tr.shape == (24, 512) and torch.allclose(tr.norm(dim=1), torch.ones(24))
    assert logged[-1]['knn/top1'] == pytest.approx(knn_accuracy(tr, trl, va, val))


def test_knn_monitor_features_of_a_vit_are_unmasked_patch_means(synthetic_root):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmssl_ext.engine import KNNMonitorHook
    from mmssl_ext.registry import MODELS
    from mmssl_ext.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                   'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'))
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    loader = Runner.build_dataloader(_labelled(synthetic_root, 'val'))
    feats, labels = KNNMonitorHook._features(model, loader)
    feats_again, _ = KNNMonitorHook._features(model, loader)
    assert feats.shape == (12, 96) and labels.shape == (12, )
    torch.testing.assert_close(feats, feats_again)  # no random masking involved


def test_knn_monitor_refuses_a_bad_interval():
    from mmssl_ext.engine import KNNMonitorHook
    with pytest.raises(ValueError, match='interval'):
        KNNMonitorHook(train_dataloader={}, val_dataloader={}, interval=0)


def _find(root, name):
    for dirpath, _, files in os.walk(root):
        if name in files:
            return osp.join(dirpath, name)
    raise FileNotFoundError(name)
