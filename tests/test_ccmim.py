"""ccMIM: the contrast against direct computations, the stop-gradient, the
reduction to MAE, and training runs (Runner, mim, torchrun)."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext import register_all_modules
from mmssl_ext.models.losses import CrossBatchInfoNCELoss
from mmssl_ext.registry import MODELS

from .conftest import run_mim_and_dist_train

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')
ALIGN = osp.join(REPO_ROOT, 'configs', 'ccmim',
                 'ccmim_vit-base-p16-align_8xb128-amp-coslr-400e_in1k.py')

register_all_modules(init_default_scope=False)


# --------------------------------------------------------------------------- L_NCE

def _paper_eq7(query, key, temperature, query_negatives):
    """ccMIM's L_NCE written out image by image (Eq. 7; without the
    visible-visible term when ``query_negatives`` is False), times 2 tau."""
    q, k = F.normalize(query, dim=1), F.normalize(key, dim=1)
    total = 0.0
    for i in range(len(q)):
        positive = math.exp(float(q[i] @ k[i]) / temperature)
        denominator = sum(math.exp(float(q[i] @ k[j]) / temperature) for j in range(len(q)))
        if query_negatives:
            denominator += sum(math.exp(float(q[i] @ q[j]) / temperature)
                               for j in range(len(q)) if j != i)
        total += -math.log(positive / denominator)
    return total / len(q) * 2 * temperature


@pytest.mark.parametrize('query_negatives', [False, True])
def test_info_nce_matches_the_formula_image_by_image(query_negatives):
    gen = torch.Generator().manual_seed(0)
    query, key = torch.randn(6, 16, generator=gen), torch.randn(6, 16, generator=gen) * 3
    loss = CrossBatchInfoNCELoss(temperature=0.5, query_negatives=query_negatives)(query, key)
    assert float(loss) == pytest.approx(_paper_eq7(query, key, 0.5, query_negatives), rel=1e-5)


def _nce_worker(rank, world_size, init_file, inputs_file, result_file):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    full = torch.load(inputs_file, weights_only=True)
    out = {}
    for query_negatives in (False, True):
        query = full['query'][rank * 3:(rank + 1) * 3].clone().requires_grad_()
        key = full['key'][rank * 3:(rank + 1) * 3]
        loss = CrossBatchInfoNCELoss(0.5, query_negatives)(query, key)
        loss.backward()
        losses = [torch.zeros(()) for _ in range(world_size)]
        dist.all_gather(losses, loss.detach())
        grads = [torch.zeros_like(query) for _ in range(world_size)]
        dist.all_gather(grads, query.grad)
        out[query_negatives] = dict(loss=torch.stack(losses).mean(), grad=torch.cat(grads))
    if rank == 0:
        torch.save({str(k): v for k, v in out.items()}, result_file)
    dist.destroy_process_group()


@pytest.mark.slow
def test_info_nce_across_two_processes_equals_one_process(tmp_path):
    # Keys (and, for Eq. 7, queries) are gathered: the mean of the two
    # processes' losses is the whole batch's loss, and each process's query
    # gradients, halved as DDP averages them, are the whole batch's.
    import torch.multiprocessing as mp
    gen = torch.Generator().manual_seed(1)
    full = dict(query=torch.randn(6, 8, generator=gen), key=torch.randn(6, 8, generator=gen))
    torch.save(full, str(tmp_path / 'inputs.pth'))
    mp.spawn(_nce_worker, args=(2, str(tmp_path / 'init'), str(tmp_path / 'inputs.pth'),
                                str(tmp_path / 'out.pth')), nprocs=2)
    out = torch.load(str(tmp_path / 'out.pth'), weights_only=True)
    for query_negatives in (False, True):
        query = full['query'].clone().requires_grad_()
        expected = CrossBatchInfoNCELoss(0.5, query_negatives)(query, full['key'])
        expected.backward()
        torch.testing.assert_close(out[str(query_negatives)]['loss'], expected.detach())
        torch.testing.assert_close(out[str(query_negatives)]['grad'] / 2, query.grad)


# --------------------------------------------------------------------------- model

def _model(**model_options):
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(TINY)
    cfg.model.update(model_options)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


def _images(batch=8, size=64):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))


def test_random_division_without_contrast_is_mmpretrain_mae():
    # With the random strategy and lambda = 0, ccMIM is MAE: same weights,
    # same noise, same loss, computed by mmpretrain's own MAE.
    model = _model(backbone=dict(strategy='random'), contrast_weight=0)
    cfg = Config.fromfile(TINY).model
    backbone = dict(cfg.backbone, type='mmpretrain.MAEViT')
    for key in ('strategy', 'temperature'):
        backbone.pop(key, None)
    mae = MODELS.build(dict(type='mmpretrain.MAE', backbone=backbone, neck=cfg.neck,
                            head=cfg.head))
    mae.load_state_dict(model.state_dict())
    mae.train()
    images = _images()
    torch.manual_seed(7)
    ours = model.loss(images, [])
    torch.manual_seed(7)
    theirs = mae.loss(images, [])
    assert set(ours) == {'loss_rec'}
    torch.testing.assert_close(ours['loss_rec'], theirs['loss'])


def test_losses_are_finite_and_weighted():
    model = _model()
    losses = model.loss(_images(), [])
    assert set(losses) == {'loss_rec', 'loss_contrast', 'contrast'}
    assert all(torch.isfinite(v) for v in losses.values())
    torch.testing.assert_close(losses['loss_contrast'], 0.2 * losses['contrast'])
    assert not losses['contrast'].requires_grad  # logged only


def _contrast_grads(model, images):
    model.zero_grad()
    torch.manual_seed(3)
    model.loss(images, [])['loss_contrast'].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_stop_gradient_masked_branch_builds_no_graph_and_sends_no_gradient():
    model = _model()
    images = _images()
    set_outputs = []
    encode_set = model.backbone.encode_set

    def recording(tokens, ids):
        out = encode_set(tokens, ids)
        set_outputs.append((ids.shape[1], out.requires_grad))
        return out

    model.backbone.encode_set = recording
    grads = _contrast_grads(model, images)
    # visible set (16 of 64 patches) with a graph, masked set (48) without one
    assert set_outputs == [(16, True), (48, False)]

    # Independently: the same contrast with the key computed beforehand, as a
    # constant, gives the same gradients.
    model.backbone.encode_set = encode_set
    torch.manual_seed(3)
    keep, masked, _, _ = model.backbone.divide(images)
    tokens = model.backbone.patch_tokens(images)
    with torch.no_grad():
        key = model.projector((model.backbone.encode_set(tokens, masked)[:, 0], ))[0]
    model.zero_grad()
    query = model.projector((model.backbone.encode_set(tokens, keep)[:, 0], ))[0]
    (0.2 * model.criterion(query, key)).backward()
    for name, param in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(grads[name], param.grad, msg=name)


def test_without_stop_gradient_the_masked_branch_gets_gradients():
    images = _images()
    stopped = _contrast_grads(_model(), images)
    flowing = _contrast_grads(_model(stop_grad_masked=False), images)
    differs = [n for n in stopped if not torch.allclose(stopped[n], flowing[n])]
    assert any(n.startswith('backbone.layers') for n in differs)


def test_align_variant_uses_the_predictor_on_the_visible_side_only():
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(ALIGN)
    model_cfg = Config.fromfile(TINY).model
    model_cfg['loss'] = cfg.model.loss  # replaced, not merged
    model_cfg['predictor'] = dict(cfg.model.predictor, in_channels=64, out_channels=64,
                                  hid_channels=16)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    images = _images()
    torch.manual_seed(4)
    losses = model.loss(images, [])
    # L_align = 1 - cos(SG(h_M), p(h_V)), recomputed by hand from the same division.
    torch.manual_seed(4)
    keep, masked, _, _ = model.backbone.divide(images)
    tokens = model.backbone.patch_tokens(images)
    with torch.no_grad():
        key = model.projector((model.backbone.encode_set(tokens, masked)[:, 0], ))[0]
        query = model.predictor(
            (model.projector((model.backbone.encode_set(tokens, keep)[:, 0], ))[0], ))[0]
    expected = (1 - F.cosine_similarity(query, key, dim=1)).mean()
    torch.testing.assert_close(losses['contrast'], expected, rtol=1e-4, atol=1e-5)


def test_without_contrast_no_projector_is_built():
    model = _model(contrast_weight=0)
    assert model.projector is None and model.criterion is None


def test_backbone_without_division_is_refused():
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(TINY).model
    cfg.backbone = dict(type='mmpretrain.MAEViT', arch='deit-tiny', img_size=64, patch_size=8)
    with pytest.raises(TypeError, match='ImportanceMaskingViT'):
        MODELS.build(cfg)


# --------------------------------------------------------------------------- training

def _options(root, iters):
    return [f'train_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=0', f'train_cfg.max_iters={iters}',
            'default_hooks.logger.interval=1', f'default_hooks.checkpoint.interval={iters}']


def _logged(work_dir):
    [scalars] = [p for p in sorted(_walk(work_dir)) if p.endswith('scalars.json')]
    with open(scalars) as f:
        return [json.loads(line) for line in f if '"loss"' in line]


def _walk(root):
    import os
    for dirpath, _, files in os.walk(root):
        for name in files:
            yield osp.join(dirpath, name)


def test_short_training_run_has_finite_falling_loss(tmp_path, synthetic_root, subprocess_env):
    options = _options(synthetic_root, 40)
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), TINY,
                           '--work-dir', str(tmp_path), '--cfg-options'] + options,
                          cwd=REPO_ROOT, env=subprocess_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    logs = _logged(str(tmp_path))
    assert len(logs) == 40
    assert all(math.isfinite(log[k]) for log in logs for k in ('loss', 'loss_rec', 'contrast'))
    first = sum(log['loss_rec'] for log in logs[:5]) / 5
    last = sum(log['loss_rec'] for log in logs[-5:]) / 5
    assert last < 0.8 * first, (first, last)


@pytest.mark.slow
def test_mim_and_dist_train_run_ccmim(tmp_path, synthetic_root, subprocess_env):
    # Under DDP the masked-set keys are gathered across the 2 processes.
    run_mim_and_dist_train(TINY, _options(synthetic_root, 2), tmp_path, subprocess_env)


@pytest.mark.parametrize('strategy', ['random', 'blockwise'])
def test_divisions_that_ignore_importance_do_not_compute_it(strategy, monkeypatch):
    """The importance pass is a whole no-grad ViT forward: only the
    importance-based divisions pay for it."""
    model = _model(backbone=dict(strategy=strategy))
    monkeypatch.setattr(model.backbone, 'importance', lambda images: pytest.fail(
        f'{strategy} computed the importance'))
    visible, masked = model.backbone.divide(_images())[:2]
    assert visible.shape[0] == masked.shape[0] == 8


@pytest.mark.parametrize('strategy', ['importance', 'importance_sampling'])
def test_the_most_important_patches_land_in_the_masked_set_inside_the_loss(strategy):
    # Spied inside CCMIM.loss: the scores the backbone computed, the set the
    # second encode_set call encodes (the masked one) and the mask the
    # reconstruction loss reads. With top-k the masked set is the top
    # N - K scores exactly; with importance sampling, scores far apart leave
    # the noise no say, so the same holds. Fails if the order is flipped.
    model = _model(backbone=dict(strategy=strategy))
    seen = dict(sets=[])
    real_importance, real_encode = model.backbone.importance, model.backbone.encode_set
    real_head_loss = model.head.loss

    def importance(images):
        scores = real_importance(images)
        if strategy == 'importance_sampling':
            # Gaps of 1.5 between patches: e^1.5 beats any ratio of softmax(u),
            # u in [0, 1) (at most e), and 64 patches stay within float32.
            gen = torch.Generator().manual_seed(1)
            scores = 1.5 * torch.stack([torch.randperm(scores.shape[1], generator=gen)
                                        for _ in range(len(scores))]).float()
        seen['scores'] = scores
        return scores

    def encode_set(tokens, ids):
        seen['sets'].append(ids)
        return real_encode(tokens, ids)

    def head_loss(pred, target, mask):
        seen['mask'] = mask
        return real_head_loss(pred, target, mask)

    model.backbone.importance, model.backbone.encode_set = importance, encode_set
    model.head.loss = head_loss
    model.loss(_images(), [])
    scores, (keep, masked), mask = seen['scores'], seen['sets'], seen['mask']
    num_masked = masked.shape[1]
    top = scores.argsort(dim=1, descending=True)[:, :num_masked]
    for i in range(len(scores)):
        assert set(masked[i].tolist()) == set(top[i].tolist())
        assert not set(keep[i].tolist()) & set(masked[i].tolist())
        assert set(mask[i].nonzero()[:, 0].tolist()) == set(top[i].tolist())
