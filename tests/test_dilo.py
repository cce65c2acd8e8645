"""DiLo's copy-paste view: saliency, foreground kept, background replaced."""
import os.path as osp
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


def _tool():
    import importlib.util
    import sys
    from .conftest import REPO_ROOT
    path = f'{REPO_ROOT}/tools/dataset_converters/generate_saliency_maps.py'
    spec = importlib.util.spec_from_file_location('generate_saliency_maps', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its worker function must pickle for the pool
    spec.loader.exec_module(module)
    return module


def test_saliency_tool_writes_resumes_and_lists_unreadable_images(tmp_path):
    import glob
    import os
    img_dir, out = tmp_path / 'imgs', str(tmp_path / 'saliency')
    os.makedirs(img_dir / 'sub')
    for i in range(3):
        mmcv.imwrite(_scene(i), str(img_dir / 'sub' / f'{i}.png'))
    tool = _tool()
    assert tool.main([str(img_dir), out, '--nproc', '2']) == 0
    maps = sorted(glob.glob(f'{out}/sub/*.png'))
    assert len(maps) == 3
    first = mmcv.imread(maps[0], flag='grayscale')
    assert first.shape == (96, 128) and first[40:52, 60:72].mean() > 2 * first.mean()
    before = os.path.getmtime(maps[1])
    os.remove(maps[0])
    assert tool.main([str(img_dir), out, '--nproc', '1']) == 0  # only the missing one
    assert os.path.getmtime(maps[1]) == before
    np.testing.assert_array_equal(mmcv.imread(maps[0], flag='grayscale'), first)
    (img_dir / 'sub' / 'broken.png').write_bytes(b'not a png')
    assert tool.main([str(img_dir), out, '--nproc', '1']) == 1
    assert 'broken.png' in open(f'{out}/failed.txt').read()
    assert not glob.glob(f'{out}/**/*.tmp*', recursive=True)
    with pytest.raises(SystemExit, match='other parameters'):
        tool.main([str(img_dir), out, '--work-width', '32'])


def test_load_saliency_reads_maps_names_missing_ones_and_can_compute_online(tmp_path):
    from mmssl_ext.datasets.transforms import LoadSaliency
    img_dir, out = tmp_path / 'imgs', tmp_path / 'saliency'
    img_dir.mkdir()
    mmcv.imwrite(_scene(), str(img_dir / 'a.png'))
    mmcv.imwrite(_scene(1), str(img_dir / 'b.png'))
    assert _tool().main([str(img_dir), str(out), '--nproc', '1']) == 0
    load = LoadSaliency(str(out), str(img_dir))
    results = load(dict(img=_scene(), img_path=str(img_dir / 'a.png')))
    expected = mmcv.imread(str(out / 'a.png'), flag='grayscale') / 255.
    np.testing.assert_allclose(results['saliency'], expected, atol=1e-6)
    (out / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match='b.png.*generate_saliency_maps'):
        load(dict(img=_scene(1), img_path=str(img_dir / 'b.png')))
    online = LoadSaliency(str(out), str(img_dir), online=True)
    results = online(dict(img=_scene(1), img_path=str(img_dir / 'b.png')))
    np.testing.assert_allclose(results['saliency'], spectral_residual_saliency(_scene(1)))
    with pytest.raises(ValueError, match='full resolution'):
        load(dict(img=_scene()[:50], img_path=str(img_dir / 'a.png')))


@pytest.mark.slow
def test_dilo_mocov2_trains_through_mim_and_dist_train(tmp_path, synthetic_root, subprocess_env):
    from .conftest import REPO_ROOT, run_mim_and_dist_train
    config = osp.join(REPO_ROOT, 'configs', 'dilo', 'dilo-mocov2_r18_1xb32-600i_synthetic.py')
    options = [f'train_dataloader.dataset.data_root={synthetic_root}',
               f'train_dataloader.dataset.pipeline.1.saliency_dir={synthetic_root}/saliency/train',
               f'train_dataloader.dataset.pipeline.1.img_dir={synthetic_root}/images/train',
               'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'model.queue_len=64',
               'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=2']
    run_mim_and_dist_train(config, options, tmp_path, subprocess_env)
