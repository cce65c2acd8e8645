"""MaskCo: masking, queue, momentum update, and a short training run."""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext.models import MaskCo
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT, config_with_options, free_port

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
    model.queue.enqueue(keys)
    torch.testing.assert_close(model.queue.embeddings[:2], keys)
    assert int(model.queue.ptr) == 2
    for _ in range(3):
        model.queue.enqueue(keys)
    assert int(model.queue.ptr) == 0  # wrapped around 8 slots


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
    queue_before = model.queue.embeddings.T.clone()
    loss = model.loss([torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)], samples)['loss']
    assert torch.isfinite(loss) and loss.item() > 0
    # Only the positive keys (one per image) were enqueued.
    assert int(model.queue.ptr) == 2
    torch.testing.assert_close(model.queue.embeddings.T[:, 2:], queue_before[:, 2:])
    assert torch.allclose(model.queue.embeddings[:2].norm(dim=1), torch.ones(2))


def test_short_training_run_is_finite(tmp_path, synthetic_root):
    cfg = config_with_options(SMALL, [
        f'train_dataloader.dataset.data_root={synthetic_root}', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'model.queue_len=16', 'train_cfg.max_iters=6', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=6'], tmp_path)
    Runner.from_cfg(cfg).train()
    logs = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    losses = [json.loads(line)['loss'] for line in open(logs[0]) if '"loss"' in line]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    ckpt = torch.load(osp.join(str(tmp_path), 'iter_6.pth'), weights_only=True)
    assert ckpt['state_dict']['queue.embeddings'].shape == (16, 128)
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_maskco_trains_as_two_gloo_processes(tmp_path, synthetic_root, subprocess_env):
    # Shuffle-BN all-gathers key images across the processes and un-shuffles
    # the feature maps before RoI align; the queue gathers 2 x 4 keys a step.
    import subprocess
    env = dict(subprocess_env, PORT=free_port())
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
    assert int(ckpt['state_dict']['queue.ptr']) == 8


def _reference_embedding(model: MaskCo, image: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """An embedding computed without the algorithm's code path: torchvision's
    RoIAlign (aligned, pixel-centre) on the online network, mean of 7x7 bins."""
    from torchvision.ops import roi_align
    fmap = model.neck(model.backbone(image))[0]
    rois = torch.cat([torch.zeros(1, 1), box.view(1, 4)], dim=1)
    region = roi_align(fmap, rois, output_size=7, spatial_scale=1 / 32, sampling_ratio=-1,
                       aligned=True).mean(dim=(2, 3))
    return F.normalize(model.projector((region[:, :, None, None], ))[0], dim=1)[0]


def _samples(key_boxes: torch.Tensor, mask_boxes: torch.Tensor) -> list:
    from mmpretrain.structures import DataSample
    samples = []
    for kb, mb in zip(key_boxes, mask_boxes):
        ds = DataSample()
        ds.set_field(kb, 'key_boxes')
        ds.set_field(mb, 'mask_box')
        ds.set_field('after_norm', 'mask_mode')
        samples.append(ds)
    return samples


@pytest.mark.parametrize('intra', [False, True, 'only'])
def test_loss_equals_an_independent_computation(intra):
    # At the first step the EMA copies the online network, so the key network
    # is the online one; eval mode makes features independent of the batch
    # (and of the shuffle), so each embedding can be recomputed image by image.
    torch.manual_seed(0)
    model = _tiny_model(intra_negatives=bool(intra), queue_negatives=intra != 'only',
                        loss=dict(type='QueueInfoNCELoss', temperature=0.3),
                        queue_len=9).eval()
    im_q, im_k = torch.randn(3, 3, 64, 64), torch.randn(3, 3, 64, 64)
    key_boxes = torch.tensor([[[0., 0., 30., 30.], [34., 30., 64., 64.]],
                              [[10., 12., 50., 40.], [0., 40., 20., 64.]],
                              [[20., 4., 62., 33.], [1., 1., 18., 19.]]])
    mask_boxes = torch.tensor([[8., 8., 40., 40.], [0., 0., 33., 20.], [30., 30., 64., 60.]])
    queue = model.queue.embeddings.T.clone()
    loss = model.loss([im_q, im_k], _samples(key_boxes, mask_boxes))['loss']

    with torch.no_grad():
        expected = []
        for i in range(3):
            masked = im_q[i:i + 1].clone()
            x1, y1, x2, y2 = mask_boxes[i].int().tolist()  # integer boxes: exact pixels
            masked[..., y1:y2, x1:x2] = 0
            q = _reference_embedding(model, masked, mask_boxes[i])
            keys = [_reference_embedding(model, im_k[i:i + 1], b) for b in key_boxes[i]]
            logits = [q @ keys[0]] + (list(q @ queue) if intra != 'only' else [])
            if intra:
                logits += [q @ k for k in keys[1:]]
            logits = torch.stack(logits) / 0.3
            expected.append(torch.logsumexp(logits, 0) - logits[0])
            # Only the positive key is enqueued, in batch order.
            torch.testing.assert_close(model.queue.embeddings[i], keys[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(loss, torch.stack(expected).mean(), atol=1e-5, rtol=1e-4)


def _shuffle_pairing_worker(rank: int, world_size: int, init_file: str, result_file: str):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    torch.manual_seed(0)  # the same weights on both ranks, as DDP guarantees
    model = _tiny_model(queue_len=8).eval()
    torch.manual_seed(100 + rank)  # different images and boxes per rank
    im_q, im_k = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    key_boxes = torch.rand(2, 2, 2) * 30
    key_boxes = torch.cat([key_boxes, key_boxes + 20 + torch.rand(2, 2, 2) * 14], dim=2)
    mask_boxes = torch.tensor([[0., 0., 32., 32.], [16., 16., 48., 60.]])
    # A fixed permutation that sends every image to the other process.
    real_randperm = torch.randperm
    torch.randperm = lambda n, *a, **k: torch.arange(n).roll(n // 2)
    try:
        model.loss([im_q, im_k], _samples(key_boxes, mask_boxes))
    finally:
        torch.randperm = real_randperm
    with torch.no_grad():
        mine = torch.stack([_reference_embedding(model, im_k[i:i + 1], key_boxes[i, 0])
                            for i in range(2)])
    gathered = [torch.zeros_like(mine) for _ in range(world_size)]
    dist.all_gather(gathered, mine)
    if rank == 0:
        torch.save(dict(queue=model.queue.embeddings[:4].clone(), expected=torch.cat(gathered)),
                   result_file)
    dist.destroy_process_group()


@pytest.mark.slow
def test_shuffle_bn_pairs_each_box_with_its_own_image_across_two_gloo_processes(tmp_path):
    import torch.multiprocessing as mp
    result = str(tmp_path / 'result.pth')
    mp.spawn(_shuffle_pairing_worker, args=(2, str(tmp_path / 'init'), result), nprocs=2)
    out = torch.load(result, weights_only=True)
    # The enqueued positive keys, rank-major, equal each image's own key
    # computed without any shuffle: the shuffled maps were put back in place.
    torch.testing.assert_close(out['queue'], out['expected'], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_mim_trains_the_mission_config_by_name(tmp_path, synthetic_root, subprocess_env):
    # The README's command, `mim train mmssl_ext configs/maskco/r50_8xb32_coco.py`,
    # run outside the repo, with --cfg-options shrinking it to seconds.
    import subprocess
    import sys
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    work_dir = str(tmp_path / 'mim')
    proc = subprocess.run(
        [mim, 'train', 'mmssl_ext', 'r50_8xb32_coco.py', '--work-dir', work_dir,
         '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}',
         'train_dataloader.dataset.ann_file=annotations/instances_train.json',
         'train_dataloader.dataset.data_prefix.img_path=images/train/',
         'train_dataloader.dataset.pipeline.1.size=64', 'train_dataloader.batch_size=4',
         'train_dataloader.num_workers=0', 'model.backbone.depth=18',
         'model.neck.in_channels=512', 'model.neck.num_blocks=1',
         'model.projector.in_channels=512', 'model.projector.hid_channels=64',
         'model.queue_len=16', 'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.interval=2'],
        cwd=str(tmp_path), env=subprocess_env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'we find the config file in codebase mmssl_ext' in proc.stdout
    ckpt = torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)
    assert int(ckpt['state_dict']['queue.ptr']) == 8  # 2 steps x 4 positive keys
    assert ckpt['meta']['cfg'].count("type='MaskCo'") == 1


def test_loss_falls_on_fixed_batches_with_a_fixed_queue(tmp_path):
    # The InfoNCE loss of a run rises at first whatever the model does: the
    # queue starts as random vectors (easy negatives) and fills with real
    # keys. So the loss is measured on fixed batches against a frozen snapshot
    # of the model (queue, key encoder, BN statistics restored after each
    # measurement), once the queue holds real keys, then again after 30
    # training steps of the small config's optimiser settings.
    import copy

    import numpy as np
    from mmengine.dataset import default_collate
    from mmengine.optim import build_optim_wrapper

    from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate
    from mmssl_ext.registry import DATASETS
    root = str(tmp_path / 'scenes')
    generate(root, SceneConfig(num_train=48, num_val=12, image_size=64), verbose=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(SMALL)
    cfg.train_dataloader.dataset.data_root = root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    torch.manual_seed(0)
    batch = 8
    batches = [default_collate([dataset[i * batch + j] for j in range(batch)])
               for i in range(6)]
    # A queue of one batch: it never holds a stale copy of the current positives.
    cfg.model.queue_len = batch
    model = MODELS.build(cfg.model).train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9)))

    def measured_loss() -> float:
        snapshot = copy.deepcopy(model.state_dict())
        losses = []
        with torch.no_grad():
            for data in batches:
                data = model.data_preprocessor(data, True)
                losses.append(model.loss(data['inputs'], data['data_samples'])['loss'].item())
                model.load_state_dict(snapshot)
        return float(np.mean(losses))

    for data in batches:  # fill the queue with real keys
        model.train_step(data, optim)
    before = measured_loss()
    for step in range(30):
        model.train_step(batches[step % len(batches)], optim)
    after = measured_loss()
    assert np.isfinite(before) and np.isfinite(after)
    assert after < 0.8 * before, (before, after)


def test_checkpoints_with_the_old_queue_layout_still_load():
    # Before the queue became an EmbeddingQueue it was a (D, K) buffer 'queue'
    # with a pointer 'queue_ptr'; such checkpoints resume into the new layout.
    model = _tiny_model(queue_len=8)
    state = model.state_dict()
    new_rows = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    state.pop('queue.embeddings')
    state.pop('queue.ptr')
    state['queue'], state['queue_ptr'] = new_rows.T.clone(), torch.tensor([6])
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(model.queue.embeddings, new_rows)
    assert int(model.queue.ptr) == 6


def test_keys_come_from_the_momentum_network_after_its_update_in_train_mode():
    # Online and target weights differ (a first step copies, then the online
    # weights move); in train mode BN uses batch statistics, so the keys are
    # recomputed on the whole key batch by an independently updated copy:
    # target <- (1 - momentum) * target + momentum * online, before the keys.
    # Fails if the keys come from the online network, or from the target
    # before its update.
    import copy
    torch.manual_seed(0)
    model = _tiny_model(momentum=0.5, queue_len=8).train()
    boxes = torch.tensor([[[0., 0., 40., 40.], [30., 30., 64., 64.]]] * 2)
    masks = torch.tensor([[8., 8., 40., 40.], [20., 10., 60., 50.]])
    model.loss([torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)], _samples(boxes, masks))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    target_before = copy.deepcopy(model.target_net.module)
    im_q, im_k = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    online = dict(backbone=model.backbone, neck=model.neck, projector=model.projector)
    expected_net = copy.deepcopy(target_before)
    with torch.no_grad():
        for name, part in expected_net.items():
            for p_exp, p_online in zip(part.parameters(), online[name].parameters()):
                p_exp.copy_(0.5 * p_exp + 0.5 * p_online)
            for b_exp, b_online in zip(part.buffers(), online[name].buffers()):
                b_exp.copy_(b_online)
        k_map = expected_net['neck'](expected_net['backbone'](im_k))[0]
        from torchvision.ops import roi_align
        rois = torch.cat([torch.arange(2.)[:, None], boxes[:, 0]], dim=1)
        region = roi_align(k_map, rois, output_size=7, spatial_scale=1 / 32,
                           sampling_ratio=-1, aligned=True).mean(dim=(2, 3))
        expected = F.normalize(expected_net['projector']((region[:, :, None, None], ))[0], dim=1)
        stale = target_before['projector']((region[:, :, None, None], ))[0]
    model.loss([im_q, im_k], _samples(boxes, masks))
    keys = model.queue.embeddings[2:4]
    torch.testing.assert_close(keys, expected, atol=1e-5, rtol=1e-4)
    assert (keys - F.normalize(stale, dim=1)).abs().max() > 1e-3


def test_no_negatives_and_a_batch_without_mask_mode_are_refused():
    with pytest.raises(ValueError, match='needs negatives'):
        _tiny_model(intra_negatives=False, queue_negatives=False)
    model = _tiny_model()
    samples = _samples(torch.zeros(2, 2, 4) + torch.tensor([0., 0., 32., 32.]),
                       torch.tensor([[0., 0., 32., 32.]] * 2))
    for ds in samples:
        del ds.mask_mode
    with pytest.raises(ValueError, match="algorithm_keys=.*'mask_mode'"):
        model.loss([torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)], samples)


def test_loss_is_the_same_channels_last_and_close_under_bf16_autocast():
    # torchvision's RoIAlign reads channels-last maps as they are (mmcv's CPU
    # kernel assumed NCHW memory: 1.6% off) and has an autocast rule (mmcv had
    # no bfloat16 kernel). Eval mode and a fixed queue: one function of the batch.
    torch.manual_seed(0)
    boxes = torch.tensor([[[0., 0., 40., 40.], [30., 30., 64., 64.]]] * 2)
    masks = torch.tensor([[8., 8., 40., 40.], [20., 10., 60., 50.]])
    views = [torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)]

    def loss_of(model, images):
        model.queue.embeddings.copy_(queue)
        model.queue.ptr.zero_()
        return model.loss(images, _samples(boxes, masks))['loss']

    model = _tiny_model().eval()
    queue = model.queue.embeddings.clone()
    with torch.no_grad():
        plain = loss_of(model, views)
        model.to(memory_format=torch.channels_last)
        cl = loss_of(model, [v.contiguous(memory_format=torch.channels_last) for v in views])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = loss_of(model, views)
    torch.testing.assert_close(cl, plain, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(bf16) and abs(float(bf16) / float(plain) - 1) < 0.05
