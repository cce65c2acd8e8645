"""The dense frozen probe: cell labels, mmseg's scores and the per-cell fit on
hand-made cases; the tool end to end on the synthetic scenes."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmssl_ext.evaluation.dense_probe import (cell_majority_labels, dense_linear_probe,
                                              load_semantic_scenes, segmentation_scores, upsampled)

from .conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'dense_probe.py')
SMALL = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')


def test_cell_labels_are_the_majority_of_each_cell():
    semantic = torch.tensor([[[0, 0, 1, 1],
                              [0, 2, 1, 2],
                              [2, 2, 0, 1],
                              [2, 2, 1, 0]]])
    # cells: top-left {0,0,0,2} -> 0; top-right {1,1,1,2} -> 1;
    # bottom-left all 2 -> 2; bottom-right {0,1,1,0}: a tie, the lower class 0
    assert cell_majority_labels(semantic, (2, 2), 3).tolist() == [[[0, 1], [2, 0]]]
    assert cell_majority_labels(semantic, (1, 1), 3).tolist() == [[[2]]]  # 6 twos
    with pytest.raises(ValueError, match='does not split'):
        cell_majority_labels(semantic, (3, 3), 3)


def test_scores_on_a_hand_worked_case():
    gt = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 1, 2]]])
    scores = segmentation_scores(pred, gt, 3)
    # class 0: 3 right of 4 (1 called 1) -> 3 / (4 + 3 - 3) = 0.75
    # class 1: 3 right, predicted 4 times -> 3 / (4 + 4 - 3) = 0.6
    # class 2: absent, predicted once -> 0 / 1 = 0
    assert scores['iou'] == pytest.approx([75.0, 60.0, 0.0])
    assert scores['miou'] == pytest.approx(45.0)
    assert scores['pixel_accuracy'] == pytest.approx(6 / 8 * 100)
    # a class neither present nor predicted does not count in the mean
    assert math.isnan(segmentation_scores(gt, gt, 4)['iou'][3])
    assert segmentation_scores(gt, gt, 4)['miou'] == pytest.approx(100.0)


def _striped(num: int, grid: int = 4, cell: int = 8, classes: int = 3):
    """Maps whose cell columns hold class (column + image) % classes, and
    features that name each cell's class: a probe that works scores 100."""
    semantic = torch.zeros(num, grid * cell, grid * cell, dtype=torch.long)
    feats = torch.zeros(num, classes, grid, grid)
    for n in range(num):
        for col in range(grid):
            c = (col + n) % classes
            semantic[n, :, col * cell:(col + 1) * cell] = c
            feats[n, c, :, col] = 1.0
    return feats + 0.01 * torch.randn(feats.shape, generator=torch.Generator().manual_seed(0)), \
        semantic


def test_a_probe_on_features_that_name_the_class_scores_full_marks():
    feats, semantic = _striped(6)
    scores = dense_linear_probe(feats, semantic, feats, semantic, 3)
    # bilinear upsampling of the cell logits keeps each pixel's own cell's
    # class: its weight is above one half along the stripes' one axis
    assert scores['miou'] == pytest.approx(100.0) and scores['pixel_accuracy'] == 100.0
    assert scores['grid'] == [4, 4] and scores['train_cells'] == 6 * 16
    # features that carry nothing: the fit falls back to the frequent classes
    noise = torch.randn(feats.shape, generator=torch.Generator().manual_seed(1))
    assert dense_linear_probe(noise, semantic, noise[:2], semantic[:2], 3)['miou'] < 70


def test_the_fit_draws_at_most_max_train_cells():
    feats, semantic = _striped(4)
    scores = dense_linear_probe(feats, semantic, feats, semantic, 3, max_train_cells=20)
    assert scores['train_cells'] == 20


def test_upsampled_images_stay_uint8_and_keep_their_size_when_asked_to():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert upsampled(images, 8) is images
    big = upsampled(images, 16)
    assert big.shape == (2, 3, 16, 16) and big.dtype == torch.uint8


def test_scenes_load_with_their_maps_and_a_missing_map_is_named(synthetic_root, tmp_path):
    images, semantic = load_semantic_scenes(synthetic_root, 'val', 5)
    assert images.shape == (5, 3, 64, 64) and images.dtype == torch.uint8
    assert semantic.shape == (5, 64, 64) and int(semantic.max()) <= 8
    # a copy without one semantic map
    import shutil
    root = tmp_path / 'scenes'
    shutil.copytree(synthetic_root, root)
    os.remove(root / 'seg' / 'val' / '000001.png')
    with pytest.raises(FileNotFoundError, match='no semantic map'):
        load_semantic_scenes(str(root), 'val', 5)


def test_tool_probes_the_random_init_and_a_checkpoint(synthetic_root, tmp_path, subprocess_env):
    from mmengine.config import Config

    from mmssl_ext.registry import MODELS
    cfg = Config.fromfile(SMALL)
    torch.manual_seed(1)
    backbone = MODELS.build(cfg.model.backbone)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    checkpoint = tmp_path / 'maskco.pth'
    torch.save(dict(state_dict=state), checkpoint)
    out = tmp_path / 'dense.json'
    proc = subprocess.run(
        [sys.executable, TOOL, SMALL, '--checkpoint', str(checkpoint), '--data-root',
         synthetic_root, '--num-train', '12', '--num-val', '6', '--input-size', '128',
         '--max-train-cells', '500', '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert list(rows) == ['random init', 'maskco.pth']
    for stages in rows.values():
        assert list(stages) == ['conv4', 'conv5']
        assert stages['conv4']['grid'] == [8, 8] and stages['conv5']['grid'] == [4, 4]
        for scores in stages.values():
            assert 0 <= scores['miou'] <= 100 and 0 <= scores['pixel_accuracy'] <= 100
            assert scores['train_cells'] == min(500, 12 * int(np.prod(scores['grid'])))
    # other weights, other features, other figures
    assert rows['random init']['conv5'] != rows['maskco.pth']['conv5']


def test_tool_refuses_scenes_without_annotations(tmp_path, subprocess_env):
    proc = subprocess.run([sys.executable, TOOL, SMALL, '--data-root', str(tmp_path)],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'instances_train.json' in proc.stderr
    assert 'make_synthetic_scenes' in proc.stderr
