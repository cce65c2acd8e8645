"""MaskCo's view transform: boxes, projection and masking agree with the pixels."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.registry import init_default_scope

from mmssl_ext.datasets.transforms import MaskCoViews
from mmssl_ext.registry import TRANSFORMS
from mmssl_ext.structures import box_iou


def coordinate_image(width: int, height: int) -> np.ndarray:
    """uint8 image whose channels encode the pixel's x and y (scaled to 0..250)."""
    ys, xs = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[..., 0] = np.round(xs * 250 / max(width - 1, 1))
    img[..., 1] = np.round(ys * 250 / max(height - 1, 1))
    img[..., 2] = 128
    return img


def region_mean(img, box):
    x1, y1, x2, y2 = np.round(box).astype(int)
    return img[y1:y2, x1:x2, :2].reshape(-1, 2).astype(float).mean(0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(120, 400), st.integers(120, 400))
def test_masked_box_shows_the_same_region_as_the_positive_box(seed, width, height):
    np.random.seed(seed)
    t = MaskCoViews(size=96, mask_mode='none')
    out = t.transform(dict(img=coordinate_image(width, height)))
    query, key = out['img']
    key_boxes, mask_box = out['key_boxes'], out['mask_box']
    assert key_boxes.shape == (17, 4) and key_boxes.dtype == np.float32
    assert query.shape == key.shape == (96, 96, 3)
    # Same image region => same mean coordinates (up to resampling at the edges).
    side = min(mask_box[2] - mask_box[0], mask_box[3] - mask_box[1])
    if side >= 4:
        np.testing.assert_allclose(region_mean(query, mask_box), region_mean(key, key_boxes[0]),
                                   atol=4)  # measured: <= 1.6; a wrong box: ~54


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_box_constraints(seed):
    np.random.seed(seed)
    t = MaskCoViews(size=224)
    out = t.transform(dict(img=coordinate_image(320, 240)))
    boxes = out['key_boxes']
    sides = np.concatenate([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    assert (sides >= 32 - 1e-4).all() and (sides <= 128 + 1e-4).all()
    assert (boxes >= 0).all() and (boxes <= 224).all()
    assert (box_iou(boxes[1:], boxes[:1]) < 0.2).all()
    m = out['mask_box']
    assert (m >= 0).all() and (m <= 224).all() and m[2] >= m[0] and m[3] >= m[1]


def test_box_sides_scale_with_the_view():
    t = MaskCoViews(size=64)
    assert (t.min_side, t.max_side) == pytest.approx((32 * 64 / 224, 128 * 64 / 224))


def test_before_norm_zeroes_the_masked_pixels_only():
    np.random.seed(3)
    img = np.full((200, 300, 3), 200, dtype=np.uint8)
    out = MaskCoViews(size=64, mask_mode='before_norm').transform(dict(img=img))
    x1, y1, x2, y2 = np.round(out['mask_box']).astype(int)
    query = out['img'][0]
    assert (query[y1:y2, x1:x2] == 0).all()
    outside = np.ones(query.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert (query[outside] == 200).all()
    assert (out['img'][1] == 200).all()


@pytest.mark.parametrize('shape', [(1, 1, 3), (7, 300, 3), (40, 30, 3)])
def test_tiny_and_odd_images_fall_back_without_failing(shape):
    np.random.seed(0)
    out = MaskCoViews(size=64, max_tries=3).transform(dict(img=np.zeros(shape, np.uint8)))
    assert out['img'][0].shape == (64, 64, 3) and out['key_boxes'].shape == (17, 4)


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match='mask_mode'):
        MaskCoViews(mask_mode='zero')
    with pytest.raises(ValueError, match='must fit'):
        MaskCoViews(size=64, box_side=(32, 300))


def test_built_from_the_registry_with_a_photometric_pipeline():
    init_default_scope('mmssl_ext')
    t = TRANSFORMS.build(dict(type='MaskCoViews', size=32, view_pipeline=[
        dict(type='RandomGrayscale', prob=1.0, keep_channels=True)]))
    out = t(dict(img=coordinate_image(100, 80)))
    q = out['img'][0].astype(int)
    assert (q[..., 0] == q[..., 1]).all()  # grayscale applied per view


def _view_to_image_independent(box, crop, flipped, size):
    """A view-pixel box back in image pixels, written out by hand: undo the
    flip (x -> size - x), then scale by crop side / view side and shift."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if flipped:
        x1, x2 = size - x2, size - x1
    cx1, cy1, cx2, cy2 = (float(v) for v in crop)
    sx, sy = (cx2 - cx1) / size, (cy2 - cy1) / size
    return np.array([cx1 + x1 * sx, cy1 + y1 * sy, cx1 + x2 * sx, cy1 + y2 * sy])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(60, 500), st.integers(60, 500))
def test_masked_box_is_key_box_0_in_image_pixels_and_lies_in_both_crops(seed, width, height):
    # Not only the centre: both corners of the masked box, mapped back to the
    # image, are key box 0's corners; and box 0 lies inside both crops.
    np.random.seed(seed)
    size = 96
    out = MaskCoViews(size=size, mask_mode='none').transform(
        dict(img=np.zeros((height, width, 3), np.uint8)))
    (q_crop, k_crop), (q_flip, k_flip) = out['view_crops'], out['view_flips']
    positive = _view_to_image_independent(out['key_boxes'][0], k_crop, k_flip, size)
    masked = _view_to_image_independent(out['mask_box'], q_crop, q_flip, size)
    for crop in (q_crop, k_crop):
        assert positive[0] >= crop[0] - 1e-3 and positive[1] >= crop[1] - 1e-3
        assert positive[2] <= crop[2] + 1e-3 and positive[3] <= crop[3] + 1e-3
    # Inside the query crop, the projection is not clipped: the boxes agree.
    np.testing.assert_allclose(masked, positive, atol=1e-2)
