"""LooC: which views share which augmentation, and which keys are positives
in which embedding space."""
import math
import os.path as osp
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext.datasets.transforms import LooCViews
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT, run_mim_and_dist_train

SMALL = osp.join(REPO_ROOT, 'configs', 'looc', 'looc_r18_1xb32-600i_synthetic.py')


# --------------------------------------------------------------------------- views

@pytest.mark.parametrize('seed', range(5))
def test_key_i_shares_exactly_group_i_with_the_query(seed):
    random.seed(seed)
    views = LooCViews(groups=('colour', 'rotation')).view_parameters()
    query, k0, k_colour, k_rotation = views
    assert len(views) == 4
    assert k_colour['colour'] is query['colour'] and k_colour['rotation'] is not query['rotation']
    assert k_rotation['rotation'] is query['rotation']
    assert k_rotation['colour'] is not query['colour']
    assert k0['colour'] is not query['colour'] and k0['rotation'] is not query['rotation']


@pytest.mark.parametrize('seed', range(4))
def test_the_rotation_key_is_rotated_like_the_query(seed, monkeypatch):
    # Full-image crops, no flip, no colour change: each view is the image
    # rotated by its own angle; the rotation key's angle is the query's.
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    views = LooCViews(size=32, crop_scale=(1.0, 1.0), jitter_prob=0., gray_prob=0.,
                      common_pipeline=[])
    random.seed(seed)
    np.random.seed(seed)
    real_random = random.random
    monkeypatch.setattr(random, 'random', lambda: 0.99)  # never flip
    out = views(dict(img=image.copy()))
    monkeypatch.setattr(random, 'random', real_random)
    q, k0, k_colour, k_rotation = out['img']
    angles = [p['rotation']['angle'] for p in out['looc_params']]
    for view, angle in zip(out['img'], angles):
        expected = np.rot90(image, k=angle // 90)
        assert np.abs(view.astype(int) - expected.astype(int)).max() <= 1  # resize rounding
    np.testing.assert_array_equal(k_rotation, q)
    assert angles[3] == angles[0]


def test_the_colour_key_is_coloured_like_the_query():
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    looc = LooCViews(groups=('colour', 'rotation'))
    random.seed(3)
    params = looc.view_parameters()
    q_colour = looc.apply_colour(image, params[0]['colour'])
    np.testing.assert_array_equal(looc.apply_colour(image, params[2]['colour']), q_colour)


def _coordinates(size=64):
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([xs * 4, ys * 4, np.full_like(xs, 128)], axis=2).astype(np.uint8)


@pytest.mark.parametrize('seed', range(3))
def test_every_view_draws_its_own_crop(seed, monkeypatch):
    # No colour, rotation, flip or blur: a view is its crop of a coordinate
    # image, and its top-left pixel names where the crop starts. Shared crops
    # would give equal views.
    import mmcv
    monkeypatch.setattr(mmcv, 'imflip', lambda img, *args, **kwargs: img)
    looc = LooCViews(size=32, crop_scale=(0.1, 0.3), jitter_prob=0., gray_prob=0.,
                     rotation_angles=(0, ), common_pipeline=[])
    random.seed(seed)
    np.random.seed(seed)
    views = looc(dict(img=_coordinates()))['img']
    corners = {tuple(v[0, 0, :2].tolist()) for v in views}
    assert len(views) == 4 and len(corners) == 4


def test_the_colour_key_is_coloured_like_the_query_through_the_view_path(monkeypatch):
    # Whole-image crops, no flip, no rotation, no blur: the only difference
    # between views is colour, and the colour key (k_1) equals the query while
    # k_0 and the rotation key (k_2, its own colour) do not.
    import mmcv
    monkeypatch.setattr(mmcv, 'imflip', lambda img, *args, **kwargs: img)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    looc = LooCViews(size=32, crop_scale=(1.0, 1.0), jitter_prob=1., gray_prob=0.,
                     rotation_angles=(0, ), common_pipeline=[])
    random.seed(5)
    np.random.seed(5)
    q, k0, k_colour, k_rotation = looc(dict(img=image))['img']
    np.testing.assert_array_equal(k_colour, q)
    assert np.abs(k0.astype(int) - q.astype(int)).max() > 10
    assert np.abs(k_rotation.astype(int) - q.astype(int)).max() > 10


@pytest.mark.parametrize('bad, message', [
    (dict(groups=('colour', 'blur')), 'groups'), (dict(groups=()), 'groups'),
    (dict(groups=('colour', 'colour')), 'groups'), (dict(rotation_angles=(0, 45)), '90'),
])
def test_bad_arguments_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        LooCViews(**bad)


# --------------------------------------------------------------------------- model

def _model(**options):
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(SMALL)
    cfg.model.update(queue_len=8, feat_dim=4, **options)
    cfg.model.neck.update(out_channels=4, hid_channels=16)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _nce(q, positive, negatives, tau):
    """-log softmax of the positive among [positive, negatives...], written out."""
    logits = [float(q @ positive) / tau] + [float(q @ n) / tau for n in negatives]
    top = max(logits)
    return -(logits[0] - top - math.log(sum(math.exp(v - top) for v in logits)))


def test_each_space_has_its_own_positives_and_negatives():
    model = _model()
    tau, b, d = model.criterion.temperature, 3, 4
    gen = torch.Generator().manual_seed(0)
    unit = lambda *s: F.normalize(torch.randn(*s, generator=gen), dim=-1)  # noqa: E731
    queries = [unit(b, d) for _ in range(3)]
    keys = [[unit(b, d) for _ in range(3)] for _ in range(3)]  # space x [k0, k1, k2]
    losses = model.space_losses(queries, keys)
    queues = [model.queues[s].embeddings for s in range(3)]
    # space 0: every key is a positive in turn; only the queue is negative
    expected0 = np.mean([np.mean([_nce(queries[0][n], keys[0][j][n], queues[0], tau)
                                  for n in range(b)]) for j in range(3)])
    assert float(losses[0]) == pytest.approx(expected0, rel=1e-5)
    # space i: k_i is the positive; the other keys of the same image are
    # negatives, besides the space's queue
    for i in (1, 2):
        expected = np.mean([_nce(queries[i][n], keys[i][i][n],
                                 [keys[i][j][n] for j in range(3) if j != i] + list(queues[i]),
                                 tau) for n in range(b)])
        assert float(losses[i]) == pytest.approx(expected, rel=1e-5)


def test_training_step_enqueues_k0_in_every_space_and_logs_each_space():
    model = _model()
    model.train()
    gen = torch.Generator().manual_seed(1)
    views = [torch.randn(2, 3, 32, 32, generator=gen) for _ in range(4)]
    losses = model.loss(views, [None] * 2)
    assert set(losses) == {'loss', 'nce_space0', 'nce_space1', 'nce_space2'}
    mean = torch.stack([losses[f'nce_space{s}'] for s in range(3)]).mean()
    torch.testing.assert_close(losses['loss'].detach(), mean)
    with torch.no_grad():
        target = model.target_net.module
        k0 = target['backbone'](views[1])
        for space in range(3):
            expected = F.normalize(target['heads'][space](k0)[0], dim=1)
            torch.testing.assert_close(model.queues[space].embeddings[:2], expected,
                                       rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='needs 4 views'):
        model.loss(views[:3], [None] * 2)


def test_looc_plus_plus_represents_an_image_by_all_spaces():
    plain, plus = _model(), _model(concat_spaces=True)
    plus.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    plain.eval(), plus.eval()
    assert plain.extract_feat(x)[-1].shape == (2, 512, 1, 1)
    concat = plus.extract_feat(x)[0]
    assert concat.shape == (2, 3 * 4)
    # three unit embeddings side by side
    torch.testing.assert_close(concat.norm(dim=1), torch.full((2, ), math.sqrt(3)))


@pytest.mark.slow
def test_looc_trains_through_dist_train(tmp_path, synthetic_root, subprocess_env):
    options = [f'train_dataloader.dataset.data_root={synthetic_root}',
               'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'model.queue_len=64',
               'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=2']
    run_mim_and_dist_train(SMALL, options, tmp_path, subprocess_env, mim=False)
