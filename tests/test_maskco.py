"""MaskCo: masking, queue, momentum update, and a short training run."""
import argparse
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext.models import MaskCo
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT

SMALL = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')


def _tiny_model(**kwargs) -> MaskCo:
    init_default_scope('mmssl_ext')
    cfg = dict(type='MaskCo', queue_len=8, feat_dim=4, momentum=0.5, feat_stride=32,
               backbone=dict(type='ResNet', depth=18),
               neck=dict(type='MaskPredictionNeck', in_channels=512, num_blocks=1),
               projector=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16,
                              out_channels=4, with_avg_pool=False))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_zero_masked_boxes_uses_pixel_centres():
    images = torch.ones(2, 3, 4, 6)
    boxes = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.4, 2.6, 6.0, 4.0]])
    out = MaskCo.zero_masked_boxes(images, boxes)
    expected = torch.ones(2, 4, 6)
    expected[0, 0:2, 1:3] = 0  # centres 1.5, 2.5 in x; 0.5, 1.5 in y
    expected[1, 3:4, 0:6] = 0  # centre 0.5 >= 0.4; only row 3 (3.5) is in [2.6, 4)
    torch.testing.assert_close(out[:, 0], expected)
    torch.testing.assert_close(out[:, 2], expected)


def test_queue_update_on_a_hand_built_case():
    model = _tiny_model()
    keys = F.normalize(torch.arange(8, dtype=torch.float32).view(2, 4) + 1, dim=1)
    model._dequeue_and_enqueue(keys)
    torch.testing.assert_close(model.queue[:, :2], keys.T)
    assert int(model.queue_ptr) == 2
    for _ in range(3):
        model._dequeue_and_enqueue(keys)
    assert int(model.queue_ptr) == 0  # wrapped around 8 slots


def test_momentum_update_is_mmengine_ema():
    model = _tiny_model(momentum=0.25)
    online = model.backbone.conv1.weight
    target = model.target_net.module['backbone'].conv1.weight
    parts = torch.nn.ModuleDict(dict(backbone=model.backbone, neck=model.neck,
                                     projector=model.projector))
    model.target_net.update_parameters(parts)  # mmengine's first update copies
    torch.testing.assert_close(target, online)
    with torch.no_grad():
        online.add_(1.0)
    before = target.detach().clone()
    model.target_net.update_parameters(parts)
    # mmengine EMA: target <- (1 - momentum) * target + momentum * online.
    torch.testing.assert_close(target, 0.75 * before + 0.25 * online.detach())


def test_loss_logits_on_a_known_model_state():
    torch.manual_seed(0)
    model = _tiny_model()
    from mmpretrain.structures import DataSample
    samples = []
    for _ in range(2):
        ds = DataSample()
        ds.set_field(torch.tensor([[0., 0., 32., 32.], [32., 32., 64., 64.]]), 'key_boxes')
        ds.set_field(torch.tensor([0., 0., 32., 32.]), 'mask_box')
        ds.set_field('after_norm', 'mask_mode')
        samples.append(ds)
    queue_before = model.queue.clone()
    loss = model.loss([torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)], samples)['loss']
    assert torch.isfinite(loss) and loss.item() > 0
    # Only the positive keys (one per image) were enqueued.
    assert int(model.queue_ptr) == 2
    torch.testing.assert_close(model.queue[:, 2:], queue_before[:, 2:])
    assert torch.allclose(model.queue[:, :2].norm(dim=0), torch.ones(2))


def test_short_training_run_is_finite(tmp_path, synthetic_root):
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    cfg = Config.fromfile(SMALL)
    cfg.merge_from_dict(parser.parse_args(['--o',
        f'train_dataloader.dataset.data_root={synthetic_root}', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'model.queue_len=16', 'train_cfg.max_iters=6', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=6']).o)
    cfg.work_dir = str(tmp_path)
    Runner.from_cfg(cfg).train()
    logs = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    losses = [json.loads(line)['loss'] for line in open(logs[0]) if '"loss"' in line]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    ckpt = torch.load(osp.join(str(tmp_path), 'iter_6.pth'), weights_only=True)
    assert ckpt['state_dict']['queue'].shape == (128, 16)
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_maskco_trains_as_two_gloo_processes(tmp_path, synthetic_root, subprocess_env):
    # Shuffle-BN all-gathers key images across the processes and un-shuffles
    # the feature maps before RoI align; the queue gathers 2 x 4 keys a step.
    import random
    import subprocess
    env = dict(subprocess_env, PORT=str(random.randint(20000, 30000)))
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), SMALL, '2', '--work-dir',
         str(tmp_path), '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}',
         'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False', 'model.queue_len=16',
         'train_cfg.max_iters=3', 'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.interval=3'],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'GPU number: 2' in proc.stdout
    ckpt = torch.load(osp.join(str(tmp_path), 'iter_3.pth'), weights_only=True)
    # 3 steps x 8 keys gathered from both processes = 24 -> slot 8 of 16
    # (without the gather: 3 x 4 = 12).
    assert int(ckpt['state_dict']['queue_ptr']) == 8
