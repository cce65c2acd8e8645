"""The embedded dataset: deterministic, and its annotations agree with its pixels."""
import json
import os.path as osp

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mmssl_ext.datasets.synthetic_scenes import (SHAPES, SceneConfig, _rle_encode, generate,
                                                 is_generated, render_scene)


def rle_decode(rle: dict) -> np.ndarray:
    """Independent decoder of uncompressed COCO RLE (column-major runs)."""
    h, w = rle['size']
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for count in rle['counts']:
        flat[pos:pos + count] = value
        pos += count
        value = not value
    assert pos == h * w
    return flat.reshape((w, h)).T


def test_same_seed_same_scene_other_seed_other_scene():
    cfg = SceneConfig(image_size=64)
    a, sa, ia = render_scene(cfg, 5, 'train')
    b, sb, ib = render_scene(cfg, 5, 'train')
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)
    assert [i['category'] for i in ia] == [i['category'] for i in ib]
    c, _, _ = render_scene(SceneConfig(image_size=64, seed=1), 5, 'train')
    assert not np.array_equal(a, c)
    d, _, _ = render_scene(cfg, 5, 'val')
    assert not np.array_equal(a, d)


def test_written_annotations_match_pixels(synthetic_root):
    with open(osp.join(synthetic_root, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    assert {c['id'] for c in coco['categories']} == set(range(8))
    anns_by_image = {}
    for ann in coco['annotations']:
        anns_by_image.setdefault(ann['image_id'], []).append(ann)
    assert len(anns_by_image) >= 20  # almost every scene keeps objects
    for image in coco['images'][:8]:
        seg = np.asarray(Image.open(osp.join(synthetic_root, 'seg', 'train',
                                             image['file_name'])))
        union = np.zeros_like(seg, dtype=bool)
        for ann in anns_by_image.get(image['id'], []):
            mask = rle_decode(ann['segmentation'])
            assert mask.sum() == ann['area']
            x, y, w, h = ann['bbox']
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h)
            # The semantic map holds this object's class wherever it is visible.
            assert (seg[mask] == ann['category_id'] + 1).all()
            assert not (union & mask).any(), 'instance masks must not overlap'
            union |= mask
        assert ((seg > 0) == union).all()
    labels = open(osp.join(synthetic_root, 'train.txt')).read().split()
    assert labels[0].startswith('images/train/') and 0 <= int(labels[1]) < 8


def test_is_generated_tracks_parameters(synthetic_root):
    assert is_generated(synthetic_root, SceneConfig(num_train=24, num_val=12, image_size=64))
    assert not is_generated(synthetic_root, SceneConfig(num_train=25, num_val=12,
                                                        image_size=64))


def test_colour_carries_no_class_information():
    # Mean object colour per class: classes overlap (spread within a class is
    # as large as the spread between class means).
    cfg = SceneConfig(image_size=64)
    colours = {c: [] for c in range(cfg.num_classes)}
    for index in range(60):
        image, _, instances = render_scene(cfg, index, 'train')
        for inst in instances:
            colours[inst['category']].append(image[inst['mask']].mean(0))
    means = np.array([np.mean(v, 0) for v in colours.values() if len(v) > 3])
    within = np.mean([np.std(v, 0).mean() for v in colours.values() if len(v) > 3])
    assert means.std(0).mean() < within


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 6))
def test_rle_round_trip(bits, height):
    flat = np.array(bits * height, dtype=bool)[:len(bits) * height]
    mask = flat.reshape(height, len(bits))
    np.testing.assert_array_equal(rle_decode(_rle_encode(mask)), mask)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match='num_classes'):
        SceneConfig(num_classes=len(SHAPES) + 1)
    with pytest.raises(ValueError, match='image_size'):
        SceneConfig(image_size=8)
    with pytest.raises(ValueError, match='min_objects'):
        SceneConfig(min_objects=4, max_objects=2)


def test_generate_counts(tmp_path):
    counts = generate(str(tmp_path), SceneConfig(num_train=3, num_val=2, image_size=48),
                      verbose=False)
    assert counts['train'] == 3 and counts['val'] == 2
    assert len(list((tmp_path / 'images' / 'val').iterdir())) == 2
