"""MaskCo's MPH response maps (Fig. 6): the geometry and the maps on hand-made
cases, and vis_mph.py on a MaskCo checkpoint."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from mmssl_ext.visualization.mph_maps import (central_box, heatmap, inside_fraction,
                                              inside_over_outside, mph_response_maps)

from .conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'visualization', 'vis_mph.py')
SMALL = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')


def test_central_box_and_cell_coverage():
    assert central_box(224, 64).tolist() == [80, 80, 144, 144]  # the paper's mask
    with pytest.raises(ValueError, match='must fit'):
        central_box(32, 64)
    assert inside_fraction(torch.tensor([0., 0., 4., 4.]), 8, (2, 2)).tolist() == \
        [[1, 0], [0, 0]]
    assert inside_fraction(torch.tensor([2., 2., 6., 6.]), 8, (2, 2)).tolist() == \
        [[0.25, 0.25], [0.25, 0.25]]


class CellMeans(nn.Module):
    """A stand-in MaskCo: the backbone averages 8 x 8 pixel cells (its conv5,
    in mmpretrain's tuple), the neck adds 1 to every feature (so that it
    'recovers' a zeroed cell)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # a device to read

    @staticmethod
    def backbone(x):
        return (nn.functional.avg_pool2d(x, 8), )

    @staticmethod
    def neck(maps):
        return tuple(m + 1 for m in maps)

    def forward(self, x):  # unused
        return x

    @staticmethod
    def zero_masked_boxes(images, boxes):
        from mmssl_ext.models.algorithms.maskco import MaskCo
        return MaskCo.zero_masked_boxes(images, boxes)


def test_maps_of_a_hand_worked_image():
    model = CellMeans()
    image = torch.full((3, 32, 32), 200, dtype=torch.uint8)
    box = central_box(32, 16)  # cells (1..2, 1..2) of a 4 x 4 grid
    maps = mph_response_maps(model, image, (100, 100, 100), (50, 50, 50), box)
    # normalised input 2 in every channel: |(2, 2, 2)| = 2 sqrt 3 per cell
    full = 2 * np.sqrt(3)
    assert torch.allclose(maps['image']['conv5'], torch.full((4, 4), full))
    masked = maps['masked']['conv5']
    assert torch.allclose(masked[1:3, 1:3], torch.zeros(2, 2))  # zeroed after normalisation
    assert masked[0, 0] == pytest.approx(full)
    # the neck adds 1: |(1, 1, 1)| inside, |(3, 3, 3)| outside
    assert maps['masked']['mph'][1, 1] == pytest.approx(np.sqrt(3))
    assert inside_over_outside(maps['masked']['conv5'], box, 32) == 0.0
    assert inside_over_outside(maps['masked']['mph'], box, 32) == pytest.approx(1 / 3)
    # what the network saw, for display: the mean colour in the box
    assert maps['masked_input'][:, 12, 12].tolist() == [100, 100, 100]
    before = mph_response_maps(model, image, (100, 100, 100), (50, 50, 50), box,
                               mask_mode='before_norm')
    # black pixels: (0 - 100) / 50 = -2 per channel, the same magnitude
    assert before['masked']['conv5'][1, 1] == pytest.approx(full)
    assert before['masked_input'][:, 12, 12].tolist() == [0, 0, 0]


def test_heatmap_is_rgb_on_one_scale():
    rgb = heatmap(torch.tensor([[0.0, 1.0], [2.0, 4.0]]), 8, vmax=4.0)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert not np.array_equal(rgb[0, 0], rgb[7, 7])


def test_tool_draws_the_maps_of_a_maskco_checkpoint(tmp_path, subprocess_env):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext.registry import MODELS
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(SMALL)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'maskco.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    images = []
    for i, colour in enumerate(((200, 40, 40), (30, 160, 90))):
        path = tmp_path / f'image{i}.png'
        pixels = np.random.RandomState(i).randint(0, 60, (80, 100, 3)) + np.array(colour)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
        images.append(str(path))
    out, ratios = tmp_path / 'mph.png', tmp_path / 'ratios.json'
    proc = subprocess.run(
        [sys.executable, TOOL, SMALL, str(checkpoint), *images, '--size', '128',
         '--mask-size', '64', '--panel-size', '96', '--output', str(out), '--json', str(ratios)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    canvas = np.asarray(Image.open(out))
    # 2 rows of 6 panels of 96 px, 6 px gaps
    assert canvas.shape[:2] == (2 * (96 + 6), 6 * 96 + 5 * 6)
    rows = json.loads(ratios.read_text())
    assert [osp.basename(r['image']) for r in rows] == ['image0.png', 'image1.png']
    for row in rows:
        assert row['conv5_inside_over_outside'] > 0 and row['mph_inside_over_outside'] > 0


def test_tool_refuses_a_model_without_an_mph_and_a_checkpoint_that_does_not_fit(
        tmp_path, subprocess_env):
    image = tmp_path / 'image.png'
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    moco = osp.join(REPO_ROOT, 'configs', 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py')
    checkpoint = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(64, 3, 3, 3)}), checkpoint)
    proc = subprocess.run([sys.executable, TOOL, moco, str(checkpoint), str(image)],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'no mask prediction head' in proc.stderr
    proc = subprocess.run([sys.executable, TOOL, SMALL, str(checkpoint), str(image)],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'does not fit' in proc.stderr, proc.stderr[-2000:]
