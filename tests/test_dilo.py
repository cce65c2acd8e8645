"""DiLo's copy-paste view: saliency, foreground kept, background replaced."""
import random

import mmcv
import numpy as np
import pytest

from mmssl_ext.datasets.transforms import SaliencyCopyPaste
from mmssl_ext.structures import paste_foreground, spectral_residual_saliency


def _scene(seed=0):
    """A textured background (noise around 100) with a bright 12 x 12 object."""
    rng = np.random.default_rng(seed)
    img = rng.normal(100, 10, (96, 128, 3)).clip(0, 255).astype(np.uint8)
    img[40:52, 60:72] = 220
    return img


def test_spectral_residual_marks_the_object():
    saliency = spectral_residual_saliency(_scene())
    assert saliency.shape == (96, 128) and saliency.dtype == np.float32
    assert 0 <= saliency.min() and saliency.max() <= 1
    inside, outside = saliency[40:52, 60:72].mean(), np.delete(saliency, range(36, 56), 0).mean()
    assert inside > 0.5 > 5 * outside
    assert not spectral_residual_saliency(np.zeros((8, 8, 3), np.uint8)).any()  # flat image


def test_paste_foreground_is_alpha_blending():
    img = np.full((2, 2, 3), 200, np.uint8)
    bg = np.full((2, 2, 3), 100, np.uint8)
    alpha = np.array([[1., 0.], [0.5, 0.25]])
    out = paste_foreground(img, bg, alpha)
    assert out[..., 0].tolist() == [[200, 100], [150, 125]]
    with pytest.raises(ValueError, match='must match'):
        paste_foreground(img, bg[:1], alpha)


@pytest.mark.parametrize('background', ['grayscale', 'image', 'texture'])
def test_foreground_is_kept_and_the_background_replaced(background, tmp_path):
    texture = np.random.default_rng(5).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    mmcv.imwrite(texture, str(tmp_path / 'tex.png'))
    paste = SaliencyCopyPaste(prob=1., backgrounds=(background, ), blending='none',
                              texture_dir=str(tmp_path))
    other = np.full((96, 128, 3), 7, np.uint8)
    paste(dict(img=other.copy(), saliency=np.zeros((96, 128))))  # fills the image pool
    img = _scene()
    saliency = np.zeros((96, 128), np.float32)
    saliency[40:52, 60:72] = 1.
    random.seed(0)
    out = paste(dict(img=img.copy(), saliency=saliency))
    assert out['dilo_pasted']
    fg = saliency >= 0.5
    np.testing.assert_array_equal(out['img'][fg], img[fg])  # the object, untouched
    assert not np.array_equal(out['img'][~fg], img[~fg])  # the rest replaced
    rest = out['img'][~fg]
    if background == 'grayscale':
        assert (rest == rest[0, 0]).all()
    elif background == 'image':
        assert (rest == 7).all()  # the previously seen image
    else:
        np.testing.assert_array_equal(out['img'], paste_foreground(
            img, mmcv.imresize(texture, (128, 96)), fg.astype(np.float32)))


def test_gaussian_blending_softens_the_edge_only():
    paste = SaliencyCopyPaste(prob=1., blending='gaussian', sigma=0.02)
    img = _scene()
    saliency = np.zeros((96, 128), np.float32)
    saliency[30:62, 50:82] = 1.
    out = paste(dict(img=img.copy(), saliency=saliency))['img'].astype(int)
    np.testing.assert_array_equal(out[44, 66], img[44, 66])  # deep inside: the image
    level = out[0, 0, 0]
    assert (out[:10] == level).all()  # far outside: the flat gray
    edge = out[30, 50:82, 0]  # on the mask border: between the two
    assert not np.array_equal(edge, img[30, 50:82, 0])


def test_probability_and_online_saliency():
    img = _scene()
    never = SaliencyCopyPaste(prob=0.)
    assert np.array_equal(never(dict(img=img.copy()))['img'], img)
    random.seed(1)
    always = SaliencyCopyPaste(prob=1., blending='none')
    out = always(dict(img=img.copy()))  # no saliency given: spectral residual
    assert out['dilo_pasted']
    np.testing.assert_array_equal(out['img'][44, 66], img[44, 66])
    random.seed(2)
    rate = SaliencyCopyPaste(prob=0.3)
    pasted = sum('dilo_pasted' in rate(dict(img=img.copy(), saliency=np.ones((96, 128))))
                 for _ in range(400))
    assert 80 < pasted < 160  # ~120


@pytest.mark.parametrize('bad, message', [
    (dict(prob=1.5), 'prob'), (dict(backgrounds=('sky', )), 'backgrounds'),
    (dict(blending='alpha'), 'blending'), (dict(backgrounds=('texture', )), 'texture_dir'),
])
def test_bad_arguments_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        SaliencyCopyPaste(**bad)


def test_a_saliency_map_of_the_wrong_size_names_the_image():
    paste = SaliencyCopyPaste(prob=1.)
    with pytest.raises(ValueError, match='a.jpg'):
        paste(dict(img=_scene(), img_path='a.jpg', saliency=np.ones((10, 10))))
