"""NNCLR: support set, nearest-neighbour retrieval, loss, and training."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext.models.losses import NNCLRLoss, nearest_neighbour_contrast
from mmssl_ext.models.utils import EmbeddingQueue
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT, config_with_options, run_mim_and_dist_train

SMALL = osp.join(REPO_ROOT, 'configs', 'nnclr', 'nnclr_r18_1xb32-600i_synthetic.py')


# --------------------------------------------------------------------------- support set

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), length=st.integers(1, 64), dim=st.integers(1, 16),
       batch=st.integers(1, 8))
def test_nearest_neighbour_is_the_brute_force_l2_argmin(seed, length, dim, batch):
    torch.manual_seed(seed)
    queue = EmbeddingQueue(length, dim)
    query = torch.randn(batch, dim) * 5  # any scale: the search normalises
    neighbours, index = queue.nearest_neighbours(query)
    bank = queue.embeddings.numpy().astype(np.float64)
    unit = query.numpy().astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    distances = ((unit[:, None, :] - bank[None]) ** 2).sum(-1)  # (B, length)
    best = distances.min(axis=1)
    # Ties (equal distances) may pick either; the chosen one must be at the minimum.
    chosen = distances[np.arange(batch), index.numpy()]
    np.testing.assert_allclose(chosen, best, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(neighbours, queue.embeddings[index])
    assert not neighbours.requires_grad


def test_nearest_neighbour_under_autocast_is_the_fp32_one():
    # Two queued embeddings 1e-4 apart in cosine similarity to the query: bf16
    # rounds both products to 1.0 (its spacing there is 2**-8), a tie argmax
    # would give to index 0; the lookup must still find index 1.
    query = torch.tensor([[1.0, 0.0, 0.0]])
    queue = EmbeddingQueue(2, 3)
    near, nearer = F.normalize(torch.tensor([[1.0, 0.02, 0.0], [1.0, 0.01, 0.0]]), dim=1)
    queue.embeddings.copy_(torch.stack([near, nearer]))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        neighbours, index = queue.nearest_neighbours(query.bfloat16())
    assert index.tolist() == [1]
    assert neighbours.dtype == torch.bfloat16


def test_queue_is_fifo_wraps_around_and_refuses_a_partial_batch():
    queue = EmbeddingQueue(6, 2)
    batches = [torch.full((2, 2), float(i)) for i in range(4)]
    for b in batches[:3]:
        queue.enqueue(b)
    assert int(queue.ptr) == 0  # 3 x 2 rows: wrapped to the start
    queue.enqueue(batches[3])  # overwrites the oldest rows, 0 and 1
    assert queue.embeddings[:, 0].tolist() == [3., 3., 1., 1., 2., 2.]
    assert int(queue.ptr) == 2
    with pytest.raises(ValueError, match='multiple of the global batch'):
        queue.enqueue(torch.zeros(4, 2))


def test_queue_state_survives_a_checkpoint_round_trip(tmp_path):
    queue = EmbeddingQueue(8, 3)
    queue.enqueue(torch.ones(4, 3))
    path = str(tmp_path / 'queue.pth')
    torch.save(queue.state_dict(), path)
    restored = EmbeddingQueue(8, 3)
    restored.load_state_dict(torch.load(path, weights_only=True))
    torch.testing.assert_close(restored.embeddings, queue.embeddings)
    assert int(restored.ptr) == 4
    restored.enqueue(torch.full((4, 3), 2.))  # continues after the restored pointer
    assert restored.embeddings[:4].eq(1).all() and restored.embeddings[4:].eq(2).all()


# --------------------------------------------------------------------------- loss

def test_loss_on_a_hand_built_case():
    # Two images, orthogonal unit vectors: S = I / tau, so every row and every
    # column has logits (10, 0): the loss is log(1 + e^-10) in both directions.
    tau = 0.1
    e = torch.eye(2)
    loss = NNCLRLoss(temperature=tau)(e, e, e, e)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-10)), abs=1e-6)
    # Swapping the predictions of view 2 makes every positive the orthogonal
    # vector: logits (0, 10) in one direction -> log(1 + e^10); the other
    # direction still matches.
    swapped = e.flip(0)
    loss = NNCLRLoss(temperature=tau)(e, e, e, swapped)
    expected = (math.log(1 + math.exp(10)) + math.log(1 + math.exp(-10))) / 2
    assert float(loss) == pytest.approx(expected, abs=1e-5)


def _paper_loss(neighbours, predictions, tau):
    """Eq. 2 of the paper and its transposed term, image by image."""
    nn_ = F.normalize(neighbours, dim=1).double()
    p = F.normalize(predictions, dim=1).double()
    n = len(nn_)
    rows = sum(-math.log(math.exp(float(nn_[i] @ p[i]) / tau) /
                         sum(math.exp(float(nn_[i] @ p[k]) / tau) for k in range(n)))
               for i in range(n)) / n
    columns = sum(-math.log(math.exp(float(nn_[i] @ p[i]) / tau) /
                            sum(math.exp(float(nn_[k] @ p[i]) / tau) for k in range(n)))
                  for i in range(n)) / n
    return (rows + columns) / 2


def test_loss_matches_the_paper_formula_image_by_image():
    gen = torch.Generator().manual_seed(0)
    nn1, nn2 = (F.normalize(torch.randn(5, 8, generator=gen), dim=1) for _ in range(2))
    p1, p2 = torch.randn(5, 8, generator=gen) * 3, torch.randn(5, 8, generator=gen)
    loss = NNCLRLoss(temperature=0.2)(nn1, nn2, p1, p2)
    expected = (_paper_loss(nn1, p2, 0.2) + _paper_loss(nn2, p1, 0.2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def _two_process_worker(rank, world_size, init_file, inputs_file, result_file):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    full = torch.load(inputs_file, weights_only=True)
    rows = slice(rank * 3, (rank + 1) * 3)
    predictions = full['predictions'][rows].clone().requires_grad_()
    loss = nearest_neighbour_contrast(full['neighbours'][rows], predictions, 0.1)
    loss.backward()
    losses = [torch.zeros(()) for _ in range(world_size)]
    dist.all_gather(losses, loss.detach())
    grads = [torch.zeros_like(predictions) for _ in range(world_size)]
    dist.all_gather(grads, predictions.grad)
    if rank == 0:
        torch.save(dict(loss=torch.stack(losses).mean(), grad=torch.cat(grads)), result_file)
    dist.destroy_process_group()


@pytest.mark.slow
def test_loss_across_two_processes_equals_one_process(tmp_path):
    # Each process takes its rows and columns against the gathered batch: the
    # mean of the two losses is the whole batch's, and the prediction
    # gradients, halved as DDP averages them, are the whole batch's.
    import torch.multiprocessing as mp
    gen = torch.Generator().manual_seed(3)
    full = dict(neighbours=F.normalize(torch.randn(6, 8, generator=gen), dim=1),
                predictions=torch.randn(6, 8, generator=gen))
    torch.save(full, str(tmp_path / 'inputs.pth'))
    mp.spawn(_two_process_worker, args=(2, str(tmp_path / 'init'), str(tmp_path / 'inputs.pth'),
                                        str(tmp_path / 'out.pth')), nprocs=2)
    out = torch.load(str(tmp_path / 'out.pth'), weights_only=True)
    predictions = full['predictions'].clone().requires_grad_()
    expected = nearest_neighbour_contrast(full['neighbours'], predictions, 0.1)
    expected.backward()
    torch.testing.assert_close(out['loss'], expected.detach())
    torch.testing.assert_close(out['grad'] / 2, predictions.grad)


# --------------------------------------------------------------------------- model

def _model(**options):
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(SMALL)
    cfg.model.update(options)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


def test_positives_come_from_the_support_set_and_view_1_is_enqueued():
    model = _model(queue_len=8)
    views = [torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(i))
             for i in range(2)]
    before = model.support_set.embeddings.clone()
    seen = {}
    original = model.criterion.forward

    def spy(nn1, nn2, p1, p2):
        seen.update(nn1=nn1, nn2=nn2)
        return original(nn1, nn2, p1, p2)

    model.criterion.forward = spy
    losses = model.loss(views, [None] * 4)
    assert torch.isfinite(losses['loss'])
    for key in ('nn1', 'nn2'):  # every positive is a row of the support set
        match = (seen[key][:, None, :] - before[None]).abs().amax(-1).min(1).values
        assert match.max() < 1e-6
    with torch.no_grad():
        z1 = model.neck(model.backbone(views[0]))[0]
    torch.testing.assert_close(model.support_set.embeddings[:4], F.normalize(z1, dim=1),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.support_set.embeddings[4:], before[4:])
    # the gradient reaches the encoder through the predictions only
    losses['loss'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def _options(root, iters):
    return [f'train_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'model.queue_len=16',
            f'train_cfg.max_iters={iters}', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={iters}']


@pytest.mark.slow
def test_nnclr_trains_through_dist_train(tmp_path, synthetic_root, subprocess_env):
    run_mim_and_dist_train(SMALL, _options(synthetic_root, 2), tmp_path, subprocess_env,
                           mim=False)


def _cfg(work_dir, options) -> Config:
    return config_with_options(SMALL, options, work_dir)


def test_resume_restores_the_support_set_and_continues_writing_it(tmp_path, synthetic_root):
    from mmengine.runner import Runner
    first = Runner.from_cfg(_cfg(tmp_path / 'a', _options(synthetic_root, 3)))
    first.train()
    ckpt = str(tmp_path / 'a' / 'iter_3.pth')
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    assert int(saved['support_set.ptr']) == 12  # 3 iterations x batch 4

    cfg = _cfg(tmp_path / 'b', _options(synthetic_root, 4))
    cfg.resume, cfg.load_from = True, ckpt
    second = Runner.from_cfg(cfg)
    second.load_or_resume()
    assert second.iter == 3
    torch.testing.assert_close(second.model.support_set.embeddings,
                               saved['support_set.embeddings'])
    second.train()  # iteration 4 writes rows 12-15 and keeps the restored 0-11
    queue = second.model.support_set
    assert int(queue.ptr) == 0
    torch.testing.assert_close(queue.embeddings[:12], saved['support_set.embeddings'][:12])
    assert not torch.allclose(queue.embeddings[12:], saved['support_set.embeddings'][12:])


def test_neighbours_of_the_projections_pair_with_the_other_views_predictions():
    # The support set holds, for each image, a vector near its projection z1
    # (resp. z2) and another near its prediction p1 (resp. p2): the lookup by z
    # and by p find different rows, so the loss tells them apart; and the
    # pairing NN(z1) <-> p2, NN(z2) <-> p1 differs from NN(z1) <-> p1.
    model = _model(queue_len=16).eval()
    views = [torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(i))
             for i in range(2)]
    with torch.no_grad():
        z = [model.neck(model.backbone(v))[0] for v in views]
        p = [model.predictor((zi, ))[0] for zi in z]
        noise = torch.randn(16, z[0].shape[1], generator=torch.Generator().manual_seed(9))
        near_z = F.normalize(torch.cat(z) + 1e-3 * noise[:8] * torch.cat(z).norm(), dim=1)
        near_p = F.normalize(torch.cat(p) + 1e-3 * noise[8:] * torch.cat(p).norm(), dim=1)
        model.support_set.embeddings.copy_(torch.cat([near_z, near_p]))
    support = model.support_set.embeddings.clone()

    def nn_of(x):  # brute force: the support row of highest cosine similarity
        return support[(F.normalize(x, dim=1) @ support.T).argmax(dim=1)]

    tau = model.criterion.temperature
    with torch.no_grad():
        loss = model.loss(views, [None] * 4)['loss']
        expected = (_paper_loss(nn_of(z[0]), p[1], tau) + _paper_loss(nn_of(z[1]), p[0], tau)) / 2
        by_prediction = (_paper_loss(nn_of(p[0]), p[1], tau)
                         + _paper_loss(nn_of(p[1]), p[0], tau)) / 2
        same_view = (_paper_loss(nn_of(z[0]), p[0], tau)
                     + _paper_loss(nn_of(z[1]), p[1], tau)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert abs(by_prediction - expected) > 1e-3 and abs(same_view - expected) > 1e-3
