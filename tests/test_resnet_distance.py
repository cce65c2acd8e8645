"""MaskCo's ResNet distance (§4.2, Eq. 2): the maths against hand-worked and
independent computations, the tool on both kinds of backbone, and the
object-centric scenes it is compared on."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mmssl_ext.datasets.synthetic_scenes import (OBJECT_CENTRIC_SHIFT, OBJECT_CENTRIC_SIZE,
                                                 SceneConfig, render_scene)
from mmssl_ext.evaluation.resnet_distance import (mean_and_standard_error, moco_view_pair,
                                                  pair_distances, resnet_distances)
from mmssl_ext.structures.box_geometry import sample_resized_crop

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'resnet_distance.py')


class MeanColour(nn.Module):
    """A 'backbone' whose conv5 is the normalised image itself: its pooled
    feature is the view's mean colour."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # extract_features reads the device

    def forward(self, x):
        return (x, )


def halves(width: int = 96, height: int = 64) -> np.ndarray:
    """Left half pure red, right half pure green (uint8 RGB)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :width // 2, 0] = 255
    image[:, width // 2:, 1] = 255
    return image


def test_identical_views_are_at_distance_zero():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU())
    images = [np.random.RandomState(i).randint(0, 256, (48, 48, 3)).astype(np.uint8)
              for i in range(3)]
    # a crop of the whole square image at ratio 1: both views are the image
    d = resnet_distances(backbone, images, size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert d.shape == (3, ) and torch.all(d.abs() < 1e-10)
    # and the default crops of the same images do differ
    assert torch.all(resnet_distances(backbone, images, size=32) > 0)


def test_distance_of_a_hand_worked_pair_of_crops():
    """Mean-colour features of crops of a red|green image: a crop holding a
    fraction r of red has the unit feature (r, 1 - r, 0) / ||.||, so the
    distance of two crops follows from the crop boxes alone."""
    image = halves()
    d = resnet_distances(MeanColour(), [image] * 5, size=48, seed=3, mean=(0, 0, 0),
                         std=(255, 255, 255))
    rng = np.random.RandomState(3)
    expected = []
    for _ in range(5):
        units = []
        for _ in range(2):
            x1, _, x2, _ = sample_resized_crop(96, 64, (0.2, 1.0), (3 / 4, 4 / 3), rng)
            red = np.clip(48 - x1, 0, x2 - x1) / (x2 - x1)
            unit = np.array([red, 1 - red, 0.0])
            units.append(unit / np.linalg.norm(unit))
        expected.append(((units[0] - units[1]) ** 2).sum())
    # bilinear resizing blurs the one boundary column a little
    np.testing.assert_allclose(d.numpy(), expected, atol=0.03)
    assert max(expected) > 0.1  # the seed draws crops that differ


def test_pair_distances_is_eq_2_on_unit_vectors():
    feats = F.normalize(torch.randn(8, 5, generator=torch.Generator().manual_seed(1)), dim=1)
    d = pair_distances(feats)
    for i in range(4):
        a, b = feats[2 * i], feats[2 * i + 1]
        assert d[i] == pytest.approx(float(2 - 2 * (a @ b)), abs=1e-6)
    assert torch.all((d >= 0) & (d <= 4))


def test_views_are_the_seeded_moco_crops():
    image = halves()
    a = moco_view_pair(image, 32, np.random.RandomState(7))
    b = moco_view_pair(image, 32, np.random.RandomState(7))
    assert a.shape == (2, 3, 32, 32) and a.dtype == torch.uint8 and torch.equal(a, b)


def test_mean_and_standard_error():
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    mean, sem = mean_and_standard_error(values)
    assert mean == 3.0
    assert sem == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    assert mean_and_standard_error(torch.tensor([0.5])) == (0.5, 0.0)


def test_object_centric_scenes_hold_one_large_centred_object():
    cfg = SceneConfig(image_size=64, object_centric=True)
    for index in range(6):
        _, semantic, instances = render_scene(cfg, index, 'train')
        assert len(instances) == 1
        ys, xs = np.nonzero(instances[0]['mask'])
        # the centre of the mask's bounding box near the image's centre (the
        # shapes are not all symmetric about their centre: a margin of 15%)
        centre = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2]) / 64
        assert np.all(np.abs(centre - 0.5) < OBJECT_CENTRIC_SHIFT + 0.15), centre
        assert instances[0]['mask'].mean() > 0.2 * OBJECT_CENTRIC_SIZE[0] ** 2
        assert set(np.unique(semantic)) <= {0, instances[0]['category'] + 1}
    scenes = [render_scene(SceneConfig(image_size=64), i, 'train')[2] for i in range(6)]
    assert max(len(s) for s in scenes) > 1  # the default stays scene-centric


def _write_images(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f'{i:03d}.png')
    return str(folder)


def test_tool_with_a_torchvision_state_dict_matches_torchvision_itself(tmp_path, subprocess_env):
    """The state dict goes into mmpretrain's ResNet-50 by name; the figure must
    be what torchvision's own model computes on the same views."""
    import torchvision
    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    state = tmp_path / 'resnet50.pth'
    torch.save(reference.state_dict(), state)
    images = [render_scene(SceneConfig(image_size=64), i, 'val')[0] for i in range(3)]
    folder = _write_images(tmp_path / 'scenes', images)
    out = tmp_path / 'rows.json'
    proc = subprocess.run(
        [sys.executable, TOOL, folder, '--torchvision-resnet50', str(state), '--size', '64',
         '--seed', '5', '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row, = json.loads(out.read_text())
    assert row['images'] == 3 and 'torchvision ResNet-50' in row['backbone']

    trunk = nn.Sequential(*list(reference.children())[:-2])  # conv1 .. layer4
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    rng = np.random.RandomState(5)
    distances = []
    with torch.no_grad():
        for image in images:
            views = (moco_view_pair(image, 64, rng).float() - mean) / std
            pooled = F.normalize(trunk(views).mean(dim=(2, 3)), dim=1)
            distances.append(float((pooled[0] - pooled[1]).pow(2).sum()))
    assert row['mean'] == pytest.approx(np.mean(distances), rel=1e-4)
    assert row['standard_error'] == pytest.approx(np.std(distances, ddof=1) / np.sqrt(3),
                                                  rel=1e-3)


def test_tool_refuses_what_it_cannot_measure(tmp_path, subprocess_env):
    empty = tmp_path / 'empty'
    empty.mkdir()
    config = osp.join(REPO, 'configs', 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py')
    proc = subprocess.run([sys.executable, TOOL, str(empty), '--config', config],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'holds no image' in proc.stderr
    corrupt = tmp_path / 'corrupt'
    corrupt.mkdir()
    (corrupt / 'a.png').write_bytes(b'not a png')
    proc = subprocess.run([sys.executable, TOOL, str(corrupt), '--config', config],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'a.png' in proc.stderr and 'cannot be decoded' in proc.stderr
    # a ResNet-18 state dict is no ResNet-50: refused, not measured half-random
    import torchvision
    state = tmp_path / 'resnet18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), state)
    folder = _write_images(tmp_path / 'one', [halves()])
    proc = subprocess.run([sys.executable, TOOL, folder, '--torchvision-resnet50', str(state)],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'does not fit' in proc.stderr, proc.stderr[-2000:]
