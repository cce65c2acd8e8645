"""tools/visualization: the MaskCo browser draws what the transform produced."""
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np

from .conftest import REPO_ROOT

MASKCO_SMALL = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')


def test_browse_maskco_writes_one_row_per_sample(tmp_path, synthetic_root, subprocess_env):
    out = tmp_path / 'browse.png'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_maskco.py'),
         MASKCO_SMALL, '--num', '3', '--panel-size', '128', '--output', str(out),
         '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}'],
        cwd=str(tmp_path), env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    canvas = mmcv.imread(str(out), channel_order='rgb')
    assert canvas.shape[0] == 3 * (128 + 6)
    # Three square 128 px views side by side (64 px synthetic images are square too).
    assert canvas.shape[1] == 3 * 128 + 2 * 6
    key_panel = canvas[:128, 2 * (128 + 6):]
    query_panel = canvas[:128, 128 + 6:2 * 128 + 6]
    # Boxes are drawn opaque (alpha 1); only their antialiased rims blend.
    green = (np.abs(key_panel.astype(int) - (0, 200, 0)).sum(-1) < 60).sum()
    assert green > 100, 'the positive box is drawn in green on the key view'
    mean_colour = np.array([123, 116, 103])
    assert (np.abs(query_panel.astype(int) - mean_colour).sum(-1) <= 3).sum() > 50, \
        'the masked box is filled with the normalisation mean (after_norm)'


def test_browse_maskco_refuses_a_config_without_maskco_views(tmp_path, subprocess_env):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_maskco.py'),
         osp.join(REPO_ROOT, 'configs', 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
         '--output', str(tmp_path / 'x.png')],
        cwd=str(tmp_path), env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'no MaskCoViews step' in proc.stderr


def test_browse_detcon_draws_masks_and_feature_cells(tmp_path, fh_synthetic_root,
                                                     subprocess_env):
    root = fh_synthetic_root
    out = tmp_path / 'detcon.png'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_detcon.py'),
         osp.join(REPO_ROOT, 'configs', 'detcon', 'detcon-s_r18_1xb32-600i_synthetic.py'),
         '--num', '2', '--panel-size', '96', '--stride', '16', '--output', str(out),
         '--cfg-options', f'train_dataloader.dataset.data_root={root}',
         f'train_dataloader.dataset.pipeline.1.mask_dir={root}/fh_masks/train',
         f'train_dataloader.dataset.pipeline.1.img_dir={root}/images/train'],
        cwd=str(tmp_path), env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    canvas = mmcv.imread(str(out), channel_order='rgb')
    # 2 rows; 5 square panels (original, then masks and cells of each view).
    assert canvas.shape[:2] == (2 * (96 + 6), 5 * 96 + 4 * 6)


def test_cell_majority_map_matches_majority_ids():
    import importlib.util

    import torch
    spec = importlib.util.spec_from_file_location(
        'browse_detcon', osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_detcon.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ids = np.zeros((64, 64), np.int32)
    ids[:, 40:] = 5  # 24 of 32 columns of the right cells
    cells = module.cell_majority_map(ids, 32)
    assert (cells[:, :32] == 0).all() and (cells[:, 32:] == 5).all()
    from mmssl_ext.structures import majority_ids
    assert majority_ids(torch.from_numpy(ids)[None].long(), (2, 2)).tolist() == [[0, 5, 0, 5]]


CCMIM_TINY = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')


def test_browse_ccmim_draws_importance_division_and_reconstruction(tmp_path, synthetic_root,
                                                                   subprocess_env):
    out = tmp_path / 'ccmim.png'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_ccmim.py'),
         CCMIM_TINY, '--num', '2', '--panel-size', '96', '--output', str(out),
         '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}'],
        cwd=str(tmp_path), env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    canvas = mmcv.imread(str(out), channel_order='rgb')
    # 2 rows of 4 square panels: crop, importance, division, reconstruction.
    assert canvas.shape[:2] == (2 * (96 + 6), 4 * 96 + 3 * 6)


def test_browse_ccmim_analysis_keeps_visible_patches_and_masks_the_ratio():
    import importlib.util

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    spec = importlib.util.spec_from_file_location(
        'browse_ccmim', osp.join(REPO_ROOT, 'tools', 'visualization', 'browse_ccmim.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CCMIM_TINY).model)
    model.init_weights()
    model.eval()
    model.backbone.strategy = 'importance'  # top-k: the division follows the scores exactly
    inputs = torch.randn(3, 3, 64, 64)
    scores, mask, recon = tool.analyse(model, inputs)
    assert scores.shape == mask.shape == (3, 64) and (mask.sum(1) == 48).all()
    # The importance shown is the one that divided: the masked set is its top 48.
    top = torch.zeros_like(mask).scatter_(1, scores.topk(48, dim=1).indices, 1.0)
    assert torch.equal(mask, top)
    patches = model.head.patchify
    visible = ~mask.bool()
    torch.testing.assert_close(patches(recon)[visible], patches(inputs)[visible])
    assert not torch.allclose(patches(recon)[~visible], patches(inputs)[~visible])
