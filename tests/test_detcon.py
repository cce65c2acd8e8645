"""DetCon: mask transforms, the FH tool, the algorithms against SimCLR, training runs."""
import glob
import importlib.util
import json
import math
import os
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext.datasets import COCOImageDataset
from mmssl_ext.datasets.transforms import DetConViews, GridMasks, InstanceMasksToIds, LoadFHMasks
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT, config_with_options, run_mim_and_dist_train

DETCON_S = osp.join(REPO_ROOT, 'configs', 'detcon', 'detcon-s_r18_1xb32-600i_synthetic.py')
DETCON_B = osp.join(REPO_ROOT, 'configs', 'detcon', 'detcon-b_r18_1xb32-600i_synthetic.py')
TOOL = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'generate_fh_masks.py')


def _tool():
    spec = importlib.util.spec_from_file_location('generate_fh_masks', TOOL)
    module = importlib.util.module_from_spec(spec)
    # Registered so that its worker function pickles for the process pool.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- transforms

@settings(max_examples=30, deadline=None)
@given(h=st.integers(20, 90), w=st.integers(20, 90), size=st.sampled_from([16, 32, 48]),
       seed=st.integers(0, 2**16))
def test_views_keep_image_and_ids_aligned(h, w, size, seed):
    # The image is a colour lookup of its id map. Map each view pixel's centre
    # back through flip, resize and crop: where the 2x2 source pixels that
    # bilinear reads share one id, the view's id and colour must be that id's.
    # cv2's bilinear, which this model of the sampling describes (the configs'
    # bicubic reads 4x4 taps and overshoots at edges).
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 6, size=(h // 4 + 1, w // 4 + 1)).repeat(4, 0).repeat(4, 1)[:h, :w]
    lut = rng.integers(0, 256, size=(6, 3)).astype(np.uint8)
    np.random.seed(seed)
    out = DetConViews(size=size, flip_prob=0.5, interpolation='bilinear', backend='cv2')(
        dict(img=lut[ids], region_ids=ids.astype(np.uint16)))
    assert out['view_ids'].shape == (2, size, size) and out['view_ids'].dtype == np.int32
    checked = 0
    for view, vids, crop, flipped in zip(out['img'], out['view_ids'], out['view_crops'],
                                         out['view_flips']):
        x1, y1, x2, y2 = crop.astype(int)
        local = ids[y1:y2, x1:x2]
        u = np.arange(size)
        src_x = (((size - 1 - u) if flipped else u) + 0.5) * (x2 - x1) / size - 0.5
        src_y = (u + 0.5) * (y2 - y1) / size - 0.5
        for v, sy in enumerate(src_y):
            ty = np.clip([int(np.floor(sy)), int(np.floor(sy)) + 1], 0, y2 - y1 - 1)
            for uu, sx in enumerate(src_x):
                tx = np.clip([int(np.floor(sx)), int(np.floor(sx)) + 1], 0, x2 - x1 - 1)
                taps = local[np.ix_(ty, tx)]
                if (taps == taps[0, 0]).all():
                    checked += 1
                    assert vids[v, uu] == taps[0, 0], 'ids misaligned with the image'
                    assert np.abs(view[v, uu].astype(int) - lut[taps[0, 0]]).max() <= 2
    assert checked > 0


def test_ids_follow_the_pixel_centre_convention_of_the_image():
    # Downscaling 20 -> 16 px: view pixel x covers source x' = (x + 0.5) * 1.25.
    # Each view pixel's id must be the region that dominates its bilinear
    # colour (cv2's plain INTER_NEAREST would be half a pixel off: pixel 7
    # would read source 8, region 0, while its colour is 7/8 region 1).
    ids = np.zeros((20, 20), np.uint16)
    ids[:, 9:] = 1
    img = np.where(ids[..., None] == 1, 200, 0).astype(np.uint8).repeat(3, axis=2)
    out = DetConViews(size=16, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0)(
        dict(img=img, region_ids=ids))
    colour, vids = out['img'][0][8, :, 0].astype(int), out['view_ids'][0][8]
    assert (np.abs(colour - np.where(vids == 1, 200, 0)) < 100).all(), (colour, vids)


def test_views_need_region_ids_and_two_pipelines_at_most():
    with pytest.raises(KeyError, match='LoadFHMasks, GridMasks or InstanceMasksToIds'):
        DetConViews(size=16)(dict(img=np.zeros((20, 20, 3), np.uint8)))
    with pytest.raises(ValueError, match='a list of two'):
        DetConViews(view_pipelines=[[], [], []])


def test_photometric_pipeline_touches_the_image_only():
    init_default_scope('mmssl_ext')  # the view pipeline is built from mmpretrain's registry
    ids = np.zeros((32, 32), np.uint16)
    ids[:, 16:] = 3
    invert = [dict(type='Solarize', thr=0, prob=1.0)]  # every pixel inverted
    np.random.seed(0)
    out = DetConViews(size=32, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0,
                      view_pipelines=invert)(dict(img=np.zeros((32, 32, 3), np.uint8),
                                                  region_ids=ids))
    assert (out['img'][0] == 255).all()
    np.testing.assert_array_equal(out['view_ids'][0], ids)


def test_grid_and_instance_masks(synthetic_root):
    results = GridMasks(grid_size=2)(dict(img=np.zeros((10, 12, 3), np.uint8)))
    assert sorted(np.unique(results['region_ids'])) == [0, 1, 2, 3]
    dataset = COCOImageDataset(ann_file='annotations/instances_train.json',
                               data_root=synthetic_root, with_instances=True,
                               data_prefix=dict(img_path='images/train/'))
    info = dataset.get_data_info(0)
    img = mmcv.imread(info['img_path'])
    ids = InstanceMasksToIds()(dict(img=img, instances=info['instances']))['region_ids']
    # One id per visible instance, plus the background.
    assert len(np.unique(ids)) == len(info['instances']) + 1
    with pytest.raises(ValueError, match='image-info file'):
        COCOImageDataset(ann_file=_image_info_file(synthetic_root), data_root=synthetic_root,
                         with_instances=True)


def _image_info_file(root: str) -> str:
    with open(osp.join(root, 'annotations', 'instances_val.json')) as f:
        coco = json.load(f)
    path = osp.join(root, 'annotations', 'image_info_only.json')
    with open(path, 'w') as f:
        json.dump(dict(images=coco['images']), f)
    return path


def test_load_fh_masks_reads_generated_masks_and_names_missing_ones(fh_synthetic_root, tmp_path):
    root = fh_synthetic_root
    loader = LoadFHMasks(mask_dir=osp.join(root, 'fh_masks', 'train'),
                         img_dir=osp.join(root, 'images', 'train'))
    assert loader.scales == [200.0]  # read from fh_params.json
    img_path = osp.join(root, 'images', 'train', '000000.png')
    img = mmcv.imread(img_path)
    ids = loader(dict(img=img, img_path=img_path))['region_ids']
    assert ids.dtype == np.uint16 and ids.shape == img.shape[:2] and ids.max() >= 1
    # A mask directory without this image's mask: the error names both.
    other = str(tmp_path / 'other.png')
    mmcv.imwrite(img, other)
    with pytest.raises(FileNotFoundError, match='other.png'):
        LoadFHMasks(mask_dir=osp.join(root, 'fh_masks', 'train'),
                    img_dir=str(tmp_path))(dict(img=img, img_path=other))
    # online=True computes it instead.
    online = LoadFHMasks(mask_dir=str(tmp_path / 'none'), img_dir=str(tmp_path), online=True,
                         online_scale=200)
    np.testing.assert_array_equal(online(dict(img=img, img_path=other))['region_ids'], ids)
    with pytest.raises(FileNotFoundError, match='generate_fh_masks.py'):
        LoadFHMasks(mask_dir=str(tmp_path / 'none'), img_dir=str(tmp_path))(
            dict(img=img, img_path=other))


# ------------------------------------------------------------------ FH tool

def test_fh_tool_is_resumable_and_lists_unreadable_images(tmp_path, synthetic_root):
    img_dir = tmp_path / 'imgs'
    os.makedirs(img_dir / 'sub')
    src = sorted(glob.glob(osp.join(synthetic_root, 'images', 'val', '*.png')))[:3]
    for i, path in enumerate(src):
        mmcv.imwrite(mmcv.imread(path), str(img_dir / 'sub' / f'{i}.jpg'))
    out = str(tmp_path / 'fh')
    tool = _tool()
    assert tool.main([str(img_dir), out, '--scales', '100', '300', '--nproc', '2']) == 0
    masks = sorted(glob.glob(osp.join(out, 'scale*', 'sub', '*.png')))
    assert len(masks) == 6
    ids = mmcv.imread(masks[0], flag='unchanged')
    assert ids.dtype == np.uint16
    params = json.load(open(osp.join(out, 'fh_params.json')))
    assert params['scales'] == [100.0, 300.0] and params['min_size'] == {'100': 100, '300': 300}
    # Resume: nothing is recomputed, and a deleted mask is recomputed alone.
    before = os.path.getmtime(masks[1])
    os.remove(masks[0])
    assert tool.main([str(img_dir), out, '--scales', '100', '300', '--nproc', '1']) == 0
    assert osp.isfile(masks[0]) and os.path.getmtime(masks[1]) == before
    np.testing.assert_array_equal(mmcv.imread(masks[0], flag='unchanged'), ids)
    # A corrupt image is reported, the others are kept, the status is 1.
    (img_dir / 'sub' / 'broken.jpg').write_bytes(b'not a jpeg')
    assert tool.main([str(img_dir), out, '--scales', '100', '300', '--nproc', '1']) == 1
    assert 'broken.jpg' in open(osp.join(out, 'failed.txt')).read()
    assert len(glob.glob(osp.join(out, 'scale*', 'sub', '*.png'))) == 6
    assert not glob.glob(osp.join(out, '**', '*.tmp*'), recursive=True)
    # Other parameters in the same directory are refused.
    with pytest.raises(SystemExit, match='other parameters'):
        tool.main([str(img_dir), out, '--scales', '500'])


# --------------------------------------------------------------- algorithms

def _nt_xent(z: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent over the rows of z = [view 1; view 2], written out."""
    z = torch.nn.functional.normalize(z, dim=1)
    n = len(z) // 2
    sim = z @ z.T / tau
    sim.fill_diagonal_(-float('inf'))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(sim, target)


def test_detcon_s_with_one_global_mask_is_simclr():
    # With GridMasks(1) every view has one mask, mask pooling is global
    # average pooling, and DetCon_S's loss is 2 (NT-Xent + log R) / R of the
    # same network's latents (R draws of the one id; see DetConLoss). Checked
    # against mmpretrain's SimCLR on the very same backbone and projector.
    init_default_scope('mmssl_ext')
    torch.manual_seed(0)
    backbone = dict(type='ResNet', depth=18)
    detcon = MODELS.build(dict(
        type='DetConS', num_samples=4, backbone=backbone,
        neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=16,
                  with_avg_pool=False, norm_cfg=dict(type='BN1d')),
        loss=dict(type='DetConLoss', temperature=0.1)))
    simclr = MODELS.build(dict(
        type='SimCLR', backbone=backbone,
        neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=16,
                  with_avg_pool=True, norm_cfg=dict(type='BN1d')),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1)))
    simclr.load_state_dict(detcon.state_dict())
    views = [torch.randn(5, 3, 64, 64), torch.randn(5, 3, 64, 64)]
    from mmpretrain.structures import DataSample
    samples = []
    for _ in range(5):
        ds = DataSample()
        ds.set_field(np.zeros((2, 64, 64), np.int32), 'view_ids')
        samples.append(ds)
    got = detcon.loss(views, samples)['loss']
    reference = simclr.loss(views, samples)['loss']
    torch.testing.assert_close(got, 2 * (reference + math.log(4)) / 4, atol=1e-5, rtol=1e-4)
    # And the independent NT-Xent agrees with mmpretrain's.
    with torch.no_grad():
        z = simclr.neck(simclr.backbone(torch.cat(views)))[0]
    torch.testing.assert_close(_nt_xent(z, 0.1), reference, atol=1e-5, rtol=1e-4)


def test_detcon_b_pools_the_targets_with_the_online_ids():
    # Target rows with equal ids are equal (the same mask pooled) and rows with
    # different ids differ, exactly as the ids given to the loss say: the
    # target network used the online network's ids, not a fresh draw.
    init_default_scope('mmssl_ext')
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('max_iters', 10)  # CosineEMA reads it
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DETCON_B).model)
    seen = []
    model.criterion.register_forward_hook(lambda module, args, out: seen.append(args))
    from mmpretrain.structures import DataSample
    samples = []
    for _ in range(3):
        ds = DataSample()
        vids = np.zeros((2, 64, 64), np.int32)
        vids[:, :, 32:] = 7
        vids[:, 32:, :32] = 3
        ds.set_field(vids, 'view_ids')
        samples.append(ds)
    loss = model.loss([torch.randn(3, 3, 64, 64), torch.randn(3, 3, 64, 64)], samples)['loss']
    assert torch.isfinite(loss)
    _, _, target1, target2, ids1, ids2 = seen[0]
    assert ids1.shape == (3, 16) and set(ids1.unique().tolist()) <= {0, 3, 7}
    for target, ids in ((target1, ids1), (target2, ids2)):
        same_id = ids[:, :, None] == ids[:, None, :]
        same_row = torch.isclose(target[:, :, None], target[:, None, :], atol=1e-6).all(-1)
        assert torch.equal(same_id, same_row)


def _small_run(cfg_path: str, root: str, work_dir: str, iters: int = 4) -> list:
    cfg = config_with_options(cfg_path, [
        f'train_dataloader.dataset.data_root={root}',
        f'train_dataloader.dataset.pipeline.1.mask_dir={root}/fh_masks/train',
        f'train_dataloader.dataset.pipeline.1.img_dir={root}/images/train',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', f'train_cfg.max_iters={iters}',
        'default_hooks.logger.interval=1', f'default_hooks.checkpoint.interval={iters}'],
        work_dir)
    Runner.from_cfg(cfg).train()
    log = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[0]
    return [json.loads(line)['loss'] for line in open(log) if '"loss"' in line]


@pytest.mark.parametrize('config', [DETCON_S, DETCON_B], ids=['detcon-s', 'detcon-b'])
def test_short_training_run_is_finite(config, fh_synthetic_root, tmp_path):
    losses = _small_run(config, fh_synthetic_root, str(tmp_path))
    assert len(losses) == 4 and all(math.isfinite(x) and x > 0 for x in losses)
    state = torch.load(osp.join(str(tmp_path), 'iter_4.pth'), weights_only=True)['state_dict']
    assert any(k.startswith('backbone.') for k in state)
    if config == DETCON_B:
        assert any(k.startswith('target_net.') for k in state)


def test_lars_excludes_biases_and_norms():
    from mmengine.optim import build_optim_wrapper
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(DETCON_S)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        name = names[id(group['params'][0])]
        excluded = group.get('lars_exclude', False)
        is_norm_or_bias = 'bn' in name or name.endswith('bias') or 'downsample.1' in name
        assert excluded == is_norm_or_bias, name
        if excluded:
            assert group['weight_decay'] == 0


@pytest.mark.slow
@pytest.mark.parametrize('config', [DETCON_S, DETCON_B], ids=['detcon-s', 'detcon-b'])
def test_mim_and_dist_train_run_detcon(config, fh_synthetic_root, tmp_path, subprocess_env):
    root = fh_synthetic_root
    options = [f'train_dataloader.dataset.data_root={root}',
               f'train_dataloader.dataset.pipeline.1.mask_dir={root}/fh_masks/train',
               f'train_dataloader.dataset.pipeline.1.img_dir={root}/images/train',
               'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
               'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=2']
    # Under DDP the loss gathers the latents of both processes and (DetCon_S)
    # sends their gradients back across them.
    run_mim_and_dist_train(config, options, tmp_path, subprocess_env, mim=config == DETCON_S)


def _block_ids(batch: int) -> list:
    """Samples whose id maps are aligned with a 2 x 2 grid of 32 px cells."""
    from mmpretrain.structures import DataSample
    samples = []
    for i in range(batch):
        vids = np.zeros((2, 64, 64), np.int32)
        vids[0, :, 32:] = 7  # view 1: left 0, right 7
        vids[1, 32:, :] = 3  # view 2: top 0, bottom 3
        vids[1, :32, 32:] = 7 if i % 2 else 0
        ds = DataSample()
        ds.set_field(vids, 'view_ids')
        samples.append(ds)
    return samples


def test_detcon_b_loss_with_a_diverged_target_equals_an_independent_computation():
    # After a first step (which copies), the online weights move; the next step
    # must update the target as CosineEMA does (momentum 0.004 * (cos(pi t / T)
    # + 1) / 2 at t = 1) and only then compute the targets, and the loss must be
    # the brute-force DetCon loss of hand-pooled online predictions and targets.
    import copy

    from mmengine.logging import MessageHub

    from .test_detcon_loss import brute_force
    init_default_scope('mmssl_ext')
    MessageHub.get_current_instance().update_info('max_iters', 4)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DETCON_B).model).eval()
    views = [torch.randn(3, 3, 64, 64), torch.randn(3, 3, 64, 64)]
    model.loss(views, _block_ids(3))
    with torch.no_grad():
        for p in list(model.backbone.parameters()) + list(model.neck.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    expected_target = copy.deepcopy(model.target_net.module)
    momentum = 0.004 * (math.cos(math.pi * 1 / 4) + 1) / 2  # 0.0034142
    with torch.no_grad():
        for p_t, p_o in zip(expected_target.parameters(),
                            list(model.backbone.parameters()) + list(model.neck.parameters())):
            p_t.copy_((1 - momentum) * p_t + momentum * p_o)
    seen = []
    hook = model.criterion.register_forward_hook(lambda m, args, out: seen.append(args))
    loss = model.loss(views, _block_ids(3))['loss']
    hook.remove()
    ids1, ids2 = seen[0][4], seen[0][5]

    def pooled(backbone, projector, view, vids, ids):
        # Cell (r, c) of the 2 x 2 map holds the id of its 32 x 32 block.
        fmap = backbone(view)[-1]
        cells = torch.as_tensor(vids[::32, ::32].copy())  # (2, 2)
        rows = [fmap[0, :, cells == int(m)].mean(dim=1) for m in ids]
        return projector((torch.stack(rows)[:, :, None, None], ))[0]

    with torch.no_grad():
        out = {}
        for v, (view, ids) in enumerate(zip(views, (ids1, ids2))):
            preds, targets = [], []
            for i, sample in enumerate(_block_ids(3)):
                vids = sample.view_ids[v]
                proj = pooled(model.backbone, model.neck, view[i:i + 1], vids, ids[i])
                preds.append(model.predictor((proj[:, :, None, None], ))[0])
                targets.append(pooled(expected_target['backbone'], expected_target['neck'],
                                      view[i:i + 1], vids, ids[i]))
            out[v] = (torch.stack(preds), torch.stack(targets))
    expected = brute_force(out[0][0], out[1][0], out[0][1], out[1][1], ids1, ids2, 0.1)
    assert abs(loss.item() - expected) < 1e-4 * max(1.0, abs(expected))
    # The stale target (before this step's update) would give another value.
    with torch.no_grad():
        for p_t, p_o in zip(expected_target.parameters(), model.target_net.module.parameters()):
            torch.testing.assert_close(p_t, p_o)


def test_detcon_b_target_momentum_is_the_cosine_schedule_from_0996_to_1():
    # mmengine momentum m_t = 0.004 * (cos(pi t / T) + 1) / 2, i.e. BYOL's
    # tau_t = 1 - (1 - 0.996) (cos(pi t / T) + 1) / 2; hand-computed for T = 4.
    from mmengine.logging import MessageHub
    init_default_scope('mmssl_ext')
    MessageHub.get_current_instance().update_info('max_iters', 4)
    model = MODELS.build(Config.fromfile(DETCON_B).model)
    online = torch.nn.ModuleDict(dict(backbone=model.backbone, neck=model.neck))
    ema, weight = model.target_net, model.backbone.conv1.weight
    ema.update_parameters(online)  # t = 0: the copy
    target = ema.module['backbone'].conv1.weight
    for expected_m in (0.00341421, 0.002, 0.000585786):
        with torch.no_grad():
            weight.add_(1.0)
        before = target.detach().clone()
        ema.update_parameters(online)
        moved = (target - before) / (weight.detach() - before)
        torch.testing.assert_close(moved, torch.full_like(moved, expected_m), rtol=1e-4,
                                   atol=1e-8)
