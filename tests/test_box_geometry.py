"""Box geometry: hand-worked cases and hypothesis properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmssl_ext.structures import (ViewGeometry, box_iou, image_to_view, project_boxes, sample_boxes,
                                  sample_boxes_with_iou_below, view_overlap, view_to_image)


@st.composite
def views(draw, image_w=400, image_h=300):
    x1 = draw(st.floats(0, image_w - 20))
    y1 = draw(st.floats(0, image_h - 20))
    x2 = draw(st.floats(x1 + 10, image_w))
    y2 = draw(st.floats(y1 + 10, image_h))
    size = draw(st.sampled_from([(224, 224), (64, 64), (96, 48)]))
    return ViewGeometry(crop=(x1, y1, x2, y2), size=size, flipped=draw(st.booleans()))


@st.composite
def boxes_in(draw, width, height, n=3):
    out = []
    for _ in range(n):
        x1 = draw(st.floats(0, width - 2))
        y1 = draw(st.floats(0, height - 2))
        out.append([x1, y1, draw(st.floats(x1 + 1, width)), draw(st.floats(y1 + 1, height))])
    return np.array(out)


def test_hand_worked_projection():
    # Crop (100, 50)-(300, 250) of the image, resized 200 -> 100 px, flipped.
    view = ViewGeometry(crop=(100, 50, 300, 250), size=(100, 100), flipped=True)
    image_box = np.array([[120, 70, 160, 110]])
    # Crop + resize: (10, 10, 30, 30); flip in a 100 px wide view: (70, 10, 90, 30).
    np.testing.assert_allclose(image_to_view(image_box, view), [[70, 10, 90, 30]])
    np.testing.assert_allclose(view_to_image([[70, 10, 90, 30]], view), image_box)
    other = ViewGeometry(crop=(0, 0, 200, 200), size=(400, 400), flipped=False)
    np.testing.assert_allclose(project_boxes([[70, 10, 90, 30]], view, other),
                               [[240, 140, 320, 220]])


def test_iou_hand_worked():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])


@settings(max_examples=60, deadline=None)
@given(views(), st.data())
def test_round_trip_through_a_view(view, data):
    boxes = data.draw(boxes_in(400, 300))
    back = view_to_image(image_to_view(boxes, view), view)
    np.testing.assert_allclose(back, boxes, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(views(), views(), st.data())
def test_projection_composes_and_inverts(a, b, data):
    boxes = data.draw(boxes_in(a.size[0], a.size[1]))
    there = project_boxes(boxes, a, b)
    np.testing.assert_allclose(project_boxes(there, b, a), boxes, atol=1e-6)
    # Projection keeps boxes well formed and scales areas by the zoom ratio.
    assert (there[:, 2] > there[:, 0]).all() and (there[:, 3] > there[:, 1]).all()
    ratio = (b.scale[0] * b.scale[1]) / (a.scale[0] * a.scale[1])
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    np.testing.assert_allclose(area(there), area(boxes) * ratio, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(views(), st.data())
def test_flip_mirrors_about_the_view_centre(view, data):
    boxes = data.draw(boxes_in(400, 300))
    unflipped = ViewGeometry(view.crop, view.size, flipped=False)
    flipped = ViewGeometry(view.crop, view.size, flipped=True)
    a, b = image_to_view(boxes, unflipped), image_to_view(boxes, flipped)
    np.testing.assert_allclose(a[:, 0] + b[:, 2], view.size[0])
    np.testing.assert_allclose(a[:, [1, 3]], b[:, [1, 3]])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(40, 300), st.integers(40, 300))
def test_sampled_boxes_lie_inside_with_sides_in_range(seed, w, h):
    rng = np.random.default_rng(seed)
    boxes = sample_boxes(rng, 17, (0, 0, w, h), 32, 128)
    assert boxes.shape == (17, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w + 1e-9).all()
    assert (boxes[:, 3] <= h + 1e-9).all()
    sides = np.concatenate([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    assert (sides <= 128 + 1e-9).all()
    assert (boxes[:, 2] - boxes[:, 0] >= min(32, w) - 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_negatives_respect_the_iou_bound(seed):
    rng = np.random.default_rng(seed)
    anchor = sample_boxes(rng, 1, (0, 0, 224, 224), 32, 128)[0]
    negatives = sample_boxes_with_iou_below(rng, anchor, 16, (0, 0, 224, 224), 32, 128, 0.2)
    assert negatives.shape == (16, 4)
    assert (box_iou(negatives, anchor[None]) < 0.2).all()


def test_negatives_fall_back_when_the_region_is_too_small():
    rng = np.random.default_rng(0)
    anchor = np.array([0.0, 0.0, 40.0, 40.0])
    negatives = sample_boxes_with_iou_below(rng, anchor, 16, (0, 0, 40, 40), 32, 40, 0.2,
                                            max_rounds=3)
    assert negatives.shape == (16, 4)  # always the requested count, lowest IoU first


def test_view_overlap():
    a = ViewGeometry((0, 0, 100, 100), (64, 64))
    b = ViewGeometry((50, 20, 200, 80), (64, 64))
    assert view_overlap(a, b) == (50, 20, 100, 80)
    assert view_overlap(a, ViewGeometry((100, 0, 150, 50), (64, 64))) is None


def test_bad_side_range_is_refused():
    with pytest.raises(ValueError, match='min_side'):
        sample_boxes(np.random.default_rng(0), 3, (0, 0, 10, 10), 0, 5)
