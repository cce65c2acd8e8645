"""KNNMonitorHook: online kNN/linear evaluation logged during pretraining."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from .conftest import REPO_ROOT, SMALL_CONFIG, config_with_options, free_port


def _labelled(root, split, pipeline_size=64, indices=None, drop_last=False):
    return dict(
        batch_size=16, num_workers=0, drop_last=drop_last,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset', data_root=root, ann_file=f'{split}.txt',
                     data_prefix='', indices=indices,
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='Resize', scale=(pipeline_size, pipeline_size)),
                               dict(type='PackInputs')]))


def test_knn_monitor_logs_knn_and_linear_to_the_visualizer(
        tmp_path, synthetic_root, small_run_options):
    from mmengine.runner import Runner

    from mmssl_ext import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = config_with_options(SMALL_CONFIG, small_run_options + [
        'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=100'], tmp_path)
    # drop_last as in a copy of a pretraining loader: the hook scores every row all the same.
    cfg.custom_hooks = [dict(type='KNNMonitorHook', interval=2, linear=True,
                             train_dataloader=_labelled(synthetic_root, 'train', drop_last=True),
                             val_dataloader=_labelled(synthetic_root, 'val', drop_last=True))]
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
    assert va.shape == (12, 512)
    assert logged[-1]['knn/top1'] == pytest.approx(knn_accuracy(tr, trl, va, val))


def test_knn_monitor_features_of_a_vit_are_unmasked_patch_means(synthetic_root):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmssl_ext import register_all_modules
    from mmssl_ext.engine import KNNMonitorHook
    from mmssl_ext.registry import MODELS
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


def test_knn_monitor_refuses_splits_smaller_than_the_processes(monkeypatch, synthetic_root):
    """Every rank refuses alike (no rank would wait in a collective for one
    that failed on an empty shard)."""
    from mmengine.runner import Runner

    from mmssl_ext.engine.hooks import knn_monitor
    loaders = {split: Runner.build_dataloader(_labelled(synthetic_root, split, indices=3))
               for split in ('train', 'val')}
    knn_monitor._check_every_rank_has_rows(loaders)  # one process: 3 samples will do
    monkeypatch.setattr(knn_monitor, 'get_dist_info', lambda: (1, 4))
    with pytest.raises(ValueError, match=r"train_dataloader's dataset has 3 samples, fewer "
                       r"than the run's 4 processes"):
        knn_monitor._check_every_rank_has_rows(loaders)


def test_knn_monitor_refuses_a_bad_interval():
    from mmssl_ext.engine import KNNMonitorHook
    with pytest.raises(ValueError, match='interval'):
        KNNMonitorHook(train_dataloader={}, val_dataloader={}, interval=0)


def test_knn_monitor_on_two_processes_scores_what_one_process_scores(
        tmp_path, synthetic_root, subprocess_env, small_run_options):
    """``tools/dist_train.sh`` with 2 gloo processes against ``tools/train.py``
    on the same seed: the hook's figures before the first step (the same
    initial weights) are equal. The splits have odd sizes (23 and 11
    images), so the shards differ by one image and the gather trims padding;
    before, rank 0 alone built its loaders, broadcasting a sampler seed the
    other rank never joined, and the run hung."""
    import subprocess
    import sys
    cfg = config_with_options(SMALL_CONFIG, small_run_options + [
        'train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=100', 'randomness.seed=0',
        'randomness.deterministic=False'])
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(
        type='KNNMonitorHook', interval=100, linear=True, at_start=True, at_end=False,
        chunk_size=4, train_dataloader=_labelled(synthetic_root, 'train', indices=23),
        val_dataloader=_labelled(synthetic_root, 'val', indices=11))]
    config = str(tmp_path / 'knn_monitor_two_processes.py')
    cfg.dump(config)
    tools = osp.join(REPO_ROOT, 'tools')
    one = subprocess.run([sys.executable, osp.join(tools, 'train.py'), config, '--work-dir',
                          str(tmp_path / 'one')], env=subprocess_env, capture_output=True,
                         text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    env = dict(subprocess_env, PORT=free_port())
    two = subprocess.run(['bash', osp.join(tools, 'dist_train.sh'), config, '2', '--work-dir',
                          str(tmp_path / 'two')], env=env, capture_output=True, text=True,
                         timeout=600)
    assert two.returncode == 0, (two.stdout + two.stderr)[-3000:]
    figures = []
    for run in ('one', 'two'):
        scalars = [json.loads(line) for line in open(_find(str(tmp_path / run),
                                                           'scalars.json'))]
        [logged] = [s for s in scalars if 'knn/top1' in s]
        assert logged['step'] == 0
        figures.append((logged['knn/top1'], logged['linear/top1']))
    assert figures[0] == pytest.approx(figures[1], abs=1e-6), figures


def test_knn_predictions_do_not_depend_on_the_chunk_size():
    from mmssl_ext.evaluation import knn_accuracy, knn_predictions
    gen = torch.Generator().manual_seed(0)
    train = torch.nn.functional.normalize(torch.randn(50, 8, generator=gen), dim=1)
    test = torch.nn.functional.normalize(torch.randn(17, 8, generator=gen), dim=1)
    labels = torch.randint(0, 4, (50, ), generator=gen)
    whole = knn_predictions(train, labels, test, k=5, chunk_size=1000)
    for chunk in (1, 3, 16):
        assert torch.equal(knn_predictions(train, labels, test, k=5, chunk_size=chunk), whole)
    # By hand: one train point per class on the axes, the test point nearest
    # to class 2's; k = 1 votes for it alone.
    axes = torch.eye(3)
    query = torch.nn.functional.normalize(torch.tensor([[0.1, 0.2, 0.9]]), dim=1)
    assert knn_predictions(axes, torch.tensor([0, 1, 2]), query, k=1).tolist() == [2]
    assert knn_accuracy(axes, torch.tensor([0, 1, 2]), query, torch.tensor([2]), k=1) == 100.0


def _find(root, name):
    for dirpath, _, files in os.walk(root):
        if name in files:
            return osp.join(dirpath, name)
    raise FileNotFoundError(name)
