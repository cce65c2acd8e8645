"""DiLo's copy-paste view: saliency, foreground kept, background replaced."""
import os.path as osp
import random

import mmcv
import numpy as np
import pytest

from mmssl_ext.datasets.transforms import SaliencyCopyPaste
from mmssl_ext.structures import (optimise_saliency, paste_foreground, rbd_saliency,
                                  spectral_residual_saliency, superpixel_graph)


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


def _large_object_scene():
    """Textured background with a 32 x 32 red object: a few superpixels wide, so
    that superpixel boundaries do not dominate the IoU. Returns (RGB image, truth)."""
    rng = np.random.default_rng(0)
    img = rng.normal(100, 10, (96, 128, 3)).clip(0, 255).astype(np.uint8)
    img[36:68, 56:88] = (220, 60, 60)
    truth = np.zeros((96, 128), bool)
    truth[36:68, 56:88] = True
    return img, truth


def test_rbd_finds_the_object_where_spectral_residual_marks_its_edges():
    img, truth = _large_object_scene()
    saliency = rbd_saliency(img)
    assert saliency.shape == (96, 128) and saliency.dtype == np.float32
    assert 0 <= saliency.min() and saliency.max() <= 1
    from mmssl_ext.evaluation import foreground_iou

    # measured: RBD 0.80, spectral residual 0.10 (it marks the object's edges)
    assert foreground_iou(saliency, truth) > 0.7
    assert foreground_iou(spectral_residual_saliency(img), truth) < 0.3
    assert not rbd_saliency(np.full((40, 50, 3), 77, np.uint8)).any()


def test_superpixel_graph_on_a_hand_made_label_map():
    labels = np.array([[0, 0, 1, 1],
                       [0, 2, 2, 1],
                       [3, 2, 2, 1],
                       [3, 3, 3, 3]])
    adjacency, border = superpixel_graph(labels)
    expected = {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    assert {(i, j) for i, j in zip(*np.nonzero(adjacency)) if i < j} == expected
    assert (adjacency == adjacency.T).all() and not adjacency.diagonal().any()
    assert border.tolist() == [True, True, False, True]


def test_saliency_optimisation_is_the_minimiser_of_the_paper_cost():
    # Eq. 9 of Zhu et al. written as a least-squares problem: rows sqrt(w_bg) s_i,
    # sqrt(w_fg) (s_i - 1), sqrt(w_ij) (s_i - s_j) for each pair i < j;
    # solved by numpy's lstsq, independently of the normal equations.
    rng = np.random.default_rng(0)
    n = 7
    w_bg, w_fg = rng.random(n), rng.random(n)
    w = np.triu(rng.random((n, n)) * (rng.random((n, n)) < 0.5), 1)
    w = w + w.T
    rows, rhs = [], []
    for i in range(n):
        rows.append(np.sqrt(w_bg[i]) * np.eye(n)[i]), rhs.append(0.)
        rows.append(np.sqrt(w_fg[i]) * np.eye(n)[i]), rhs.append(np.sqrt(w_fg[i]))
        for j in range(i + 1, n):
            rows.append(np.sqrt(w[i, j]) * (np.eye(n)[i] - np.eye(n)[j])), rhs.append(0.)
    expected = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    np.testing.assert_allclose(optimise_saliency(w_bg, w_fg, w), expected, atol=1e-8)


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
    out = always(dict(img=img.copy()))  # no saliency given: RBD computed here
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
        tool.main([str(img_dir), out, '--segments', '50'])
    with pytest.raises(SystemExit, match='other parameters'):
        tool.main([str(img_dir), out, '--method', 'spectral_residual'])


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
    np.testing.assert_allclose(results['saliency'], rbd_saliency(mmcv.bgr2rgb(_scene(1))))
    spectral = LoadSaliency(str(out), str(img_dir), online=True, method='spectral_residual')
    results = spectral(dict(img=_scene(1), img_path=str(img_dir / 'b.png')))
    np.testing.assert_allclose(results['saliency'], spectral_residual_saliency(_scene(1)))
    with pytest.raises(ValueError, match='full resolution'):
        load(dict(img=_scene()[:50], img_path=str(img_dir / 'a.png')))


@pytest.mark.slow
def test_dilo_mocov2_trains_through_dist_train(tmp_path, synthetic_root, subprocess_env):
    from .conftest import REPO_ROOT, run_mim_and_dist_train
    config = osp.join(REPO_ROOT, 'configs', 'dilo', 'dilo-mocov2_r18_1xb32-600i_synthetic.py')
    options = [f'train_dataloader.dataset.data_root={synthetic_root}',
               f'train_dataloader.dataset.pipeline.1.saliency_dir={synthetic_root}/saliency/train',
               f'train_dataloader.dataset.pipeline.1.img_dir={synthetic_root}/images/train',
               'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'model.queue_len=64',
               'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=2']
    run_mim_and_dist_train(config, options, tmp_path, subprocess_env, mim=False)


DILO_CONFIGS = sorted(__import__('glob').glob(osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'dilo', '*.py')))


@pytest.mark.parametrize('path', DILO_CONFIGS, ids=osp.basename)
def test_shipped_configs_paste_before_the_crop_in_each_view(path):
    from mmengine.config import Config
    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    multiview = [t for t in pipeline if t['type'] == 'MultiView'][0]
    for view in multiview['transforms']:
        flat = []
        for step in view:  # a view pipeline: the paste, then Compose(MoCo v2's view)
            flat += step['transforms'] if step['type'] == 'Compose' else [step]
        types = [t['type'] for t in flat]
        assert types.index('SaliencyCopyPaste') < types.index('RandomResizedCrop'), types


def test_the_two_views_draw_independent_pastes(monkeypatch):
    # The shipped view pipeline through MultiView: each view calls the paste
    # with its own draw (here: its own gray level), not one shared paste.
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext.registry import TRANSFORMS
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(DILO_CONFIGS[0]).train_dataloader.dataset.pipeline
    multiview = [t for t in cfg if t['type'] == 'MultiView'][0]
    multiview['transforms'][0][0].update(prob=1.0, blending='none')
    levels = []
    real = SaliencyCopyPaste._background

    def spy(self, kind, shape):
        out = real(self, kind, shape)
        levels.append(int(out[0, 0, 0]))
        return out

    monkeypatch.setattr(SaliencyCopyPaste, '_background', spy)
    views = TRANSFORMS.build(multiview)
    random.seed(0)
    np.random.seed(0)
    for _ in range(5):
        views(dict(img=_scene(), saliency=(np.arange(96)[:, None] > 48) * np.ones((96, 128))))
    pairs = list(zip(levels[0::2], levels[1::2]))
    assert len(levels) == 10 and sum(a != b for a, b in pairs) >= 4, pairs


def test_foreground_iou_on_a_hand_made_case_and_the_quality_tool(subprocess_env):
    import subprocess
    import sys

    from mmssl_ext.evaluation import foreground_iou, saliency_foreground_iou
    saliency = np.zeros((4, 4))
    saliency[:2, :2] = 0.9   # 4 predicted pixels
    foreground = np.zeros((4, 4), bool)
    foreground[:2, :3] = True  # 6 true pixels, 4 shared
    assert foreground_iou(saliency, foreground) == pytest.approx(4 / 6)
    assert foreground_iou(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 1.0
    row = saliency_foreground_iou([_large_object_scene()] * 2, 'rbd')
    assert row['images'] == 2 and row['mean_iou'] > 0.7 and row['sem'] == 0
    from .conftest import REPO_ROOT
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                                                   'saliency_quality.py'), '--num', '3'],
                         env=subprocess_env, capture_output=True, text=True, check=True)
    assert '| rbd |' in out.stdout and '| spectral_residual |' in out.stdout
