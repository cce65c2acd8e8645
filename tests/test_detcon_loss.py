"""DetConLoss against a brute-force loop written from the paper and the
official byol_nce_detcon description, and its reduction to NT-Xent."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmssl_ext.models.losses import DetConLoss


def brute_force(pred1, pred2, target1, target2, ids1, ids2, tau):
    preds = (F.normalize(pred1, dim=-1), F.normalize(pred2, dim=-1))
    targets = (F.normalize(target1, dim=-1), F.normalize(target2, dim=-1))
    ids = (ids1, ids2)
    b, r, _ = pred1.shape
    loss = 0.0
    for a, o in ((0, 1), (1, 0)):
        total = 0.0
        for i in range(b):
            for m in range(r):
                anchor, mid = preds[a][i, m], int(ids[a][i, m])
                logits, positive = [], []
                for j in range(b):
                    for s in range(r):
                        logits.append(float(anchor @ targets[o][j, s]) / tau)
                        positive.append(j == i and int(ids[o][i, s]) == mid)
                        if not (j == i and int(ids[a][i, s]) == mid):
                            logits.append(float(anchor @ targets[a][j, s]) / tau)
                            positive.append(False)
                pos = [lg for lg, p in zip(logits, positive) if p]
                if not pos:
                    continue  # the id is not in the other view: weight 0
                log_z = math.log(sum(math.exp(lg) for lg in logits))
                ce = -sum(lg - log_z for lg in pos) / len(pos)
                repeats = sum(int(ids[a][i, s]) == mid for s in range(r))
                total += ce / repeats
        loss += total / (b * r)
    return loss


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_detcon_loss_equals_brute_force(seed):
    gen = torch.Generator().manual_seed(seed)
    b, r, d = 3, 4, 5
    pred1, pred2, target1, target2 = (torch.randn(b, r, d, generator=gen) for _ in range(4))
    # Few ids so that repeats, shared ids and ids missing from a view all occur.
    ids1 = torch.randint(0, 3, (b, r), generator=gen)
    ids2 = torch.randint(0, 3, (b, r), generator=gen)
    got = DetConLoss(temperature=0.3)(pred1, pred2, target1, target2, ids1, ids2)
    expected = brute_force(pred1, pred2, target1, target2, ids1, ids2, 0.3)
    assert abs(got.item() - expected) < 1e-4 * max(1.0, abs(expected))


@pytest.mark.parametrize('block_images', [None, 1])
def test_fp16_latents_give_the_fp32_loss(block_images):
    """fp16 latents (model.half(), DeepSpeed/FSDP fp16): the exclusion of
    the anchor's own target must not overflow (1e9 is inf in fp16)."""
    gen = torch.Generator().manual_seed(4)
    b, r, d = 3, 4, 8
    latents = [torch.randn(b, r, d, generator=gen).half() for _ in range(4)]
    ids1 = torch.randint(0, 3, (b, r), generator=gen)
    ids2 = torch.randint(0, 3, (b, r), generator=gen)
    got = DetConLoss(temperature=0.3, block_images=block_images)(*latents, ids1, ids2)
    expected = brute_force(*(x.float() for x in latents), ids1, ids2, 0.3)
    assert got.dtype == torch.float32
    assert abs(got.item() - expected) < 1e-2 * max(1.0, abs(expected)), (got, expected)


def test_an_id_missing_from_the_other_view_has_no_weight():
    gen = torch.Generator().manual_seed(3)
    x = [torch.randn(1, 2, 4, generator=gen) for _ in range(4)]
    ids1, ids2 = torch.tensor([[0, 1]]), torch.tensor([[0, 0]])
    base = DetConLoss()(*x, ids1, ids2)
    # Moving the prediction of id 1 of view 1 (absent from view 2) changes nothing
    # in the view-1 direction; it only appears there as an anchor.
    pred1 = x[0].clone()
    pred1[0, 1] += 5.0
    assert torch.allclose(DetConLoss()(pred1, *x[1:], ids1, ids2), base)


def nt_xent(z1, z2, tau):
    """SimCLR's NT-Xent over 2B anchors, written out."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = z @ z.T / tau
    sim.fill_diagonal_(-float('inf'))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


@pytest.mark.parametrize('repeats', [1, 16])
def test_one_global_mask_reduces_to_nt_xent(repeats):
    # DetCon_S with a single global mask per view is SimCLR: with the id drawn
    # R times, each direction is (NT-Xent + log R) / R, and the two directions
    # sum to twice the mean over SimCLR's 2B anchors.
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    p1 = z1[:, None].expand(6, repeats, 8)
    p2 = z2[:, None].expand(6, repeats, 8)
    ids = torch.zeros(6, repeats, dtype=torch.long)
    got = DetConLoss(temperature=0.1)(p1, p2, p1, p2, ids, ids)
    expected = 2 * (nt_xent(z1, z2, 0.1) + math.log(repeats)) / repeats
    torch.testing.assert_close(got, expected)


def test_gradients_reach_predictions_and_in_batch_targets():
    gen = torch.Generator().manual_seed(0)
    p1, p2 = (torch.randn(2, 3, 4, generator=gen, requires_grad=True) for _ in range(2))
    ids = torch.tensor([[0, 1, 2], [0, 1, 1]])
    DetConLoss()(p1, p2, p1, p2, ids, ids).backward()
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match='shapes do not match'):
        DetConLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 2, 4),
                     torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.zeros(2, 3))


def _two_process_worker(rank, world_size, init_file, inputs_file, result_file, group=None):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    full = torch.load(inputs_file, weights_only=True)
    half = {k: v[rank * 2:(rank + 1) * 2].clone() for k, v in full.items()}
    p1 = half['p1'].requires_grad_()
    loss = DetConLoss(temperature=0.2, negative_group_size=group)(
        p1, half['p2'], p1, half['p2'], half['ids1'], half['ids2'])
    loss.backward()
    losses = [torch.zeros(()) for _ in range(world_size)]
    dist.all_gather(losses, loss.detach())
    grads = [torch.zeros_like(p1) for _ in range(world_size)]
    dist.all_gather(grads, p1.grad)
    if rank == 0:
        torch.save(dict(loss=torch.stack(losses).mean(), grad=torch.cat(grads)), result_file)
    dist.destroy_process_group()


def _run_two_processes(tmp_path, seed, group=None):
    """4 images' random predictions and ids, 2 per gloo process: (inputs, rank 0's result)."""
    import torch.multiprocessing as mp
    gen = torch.Generator().manual_seed(seed)
    full = dict(p1=torch.randn(4, 3, 8, generator=gen), p2=torch.randn(4, 3, 8, generator=gen),
                ids1=torch.randint(0, 2, (4, 3), generator=gen),
                ids2=torch.randint(0, 2, (4, 3), generator=gen))
    torch.save(full, str(tmp_path / 'inputs.pth'))
    mp.spawn(_two_process_worker, args=(2, str(tmp_path / 'init'), str(tmp_path / 'inputs.pth'),
                                        str(tmp_path / 'out.pth'), group), nprocs=2)
    return full, torch.load(str(tmp_path / 'out.pth'), weights_only=True)


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_whole_batch(tmp_path):
    # Each process holds 2 of 4 images and gathers the targets of the other:
    # the mean of the two losses is the loss of one process holding all 4,
    # and, as DDP averages gradients over processes, the gradients each
    # process gets (its own loss's plus what the other's loss sends back
    # through the gather) divided by 2 are the full-batch gradients.
    full, out = _run_two_processes(tmp_path, seed=0)
    p1 = full['p1'].clone().requires_grad_()
    expected = DetConLoss(temperature=0.2)(p1, full['p2'], p1, full['p2'], full['ids1'],
                                           full['ids2'])
    torch.testing.assert_close(out['loss'], expected.detach())
    expected.backward()
    torch.testing.assert_close(out['grad'] / 2, p1.grad)


def test_negative_groups_contrast_each_group_of_images_with_itself_only():
    # The paper's Table 5 "negatives only within a worker", as groups of
    # images: the loss is the mean of each group's own loss.
    gen = torch.Generator().manual_seed(1)
    p1, p2, t1, t2 = (torch.randn(6, 3, 5, generator=gen) for _ in range(4))
    ids1, ids2 = (torch.randint(0, 2, (6, 3), generator=gen) for _ in range(2))
    got = DetConLoss(temperature=0.2, negative_group_size=2)(p1, p2, t1, t2, ids1, ids2)
    groups = [brute_force(p1[g:g + 2], p2[g:g + 2], t1[g:g + 2], t2[g:g + 2], ids1[g:g + 2],
                          ids2[g:g + 2], 0.2) for g in (0, 2, 4)]
    assert abs(got.item() - sum(groups) / 3) < 1e-4
    whole = brute_force(p1, p2, t1, t2, ids1, ids2, 0.2)
    assert abs(whole - sum(groups) / 3) > 1e-3  # the groups change the loss
    with pytest.raises(ValueError, match='divide'):
        DetConLoss(negative_group_size=4)(p1, p2, t1, t2, ids1, ids2)
    # A batch smaller than a group is one group: the whole batch.
    small = DetConLoss(temperature=0.2, negative_group_size=32)(p1, p2, t1, t2, ids1, ids2)
    assert abs(small.item() - whole) < 1e-4


@pytest.mark.slow
def test_negative_groups_gather_nothing_across_processes(tmp_path):
    # Each process's groups stay its own: no target crosses processes.
    full, out = _run_two_processes(tmp_path, seed=1, group=2)
    halves = [brute_force(*(full[k][r * 2:(r + 1) * 2] for k in ('p1', 'p2', 'p1', 'p2')),
                          full['ids1'][r * 2:(r + 1) * 2], full['ids2'][r * 2:(r + 1) * 2], 0.2)
              for r in range(2)]
    assert abs(out['loss'].item() - sum(halves) / 2) < 1e-4


@pytest.mark.parametrize('block_images', [1, 2, 5])
def test_blocks_of_anchor_images_give_the_brute_force_value_and_the_whole_batch_gradients(
        block_images):
    """Blocks of 1, 2 (the last one short) and 5 anchor images of a 5-image
    batch, checkpointed, against the brute-force loop and against the
    gradients of the whole batch at once; DetCon_S's shared predictions and
    targets included."""
    gen = torch.Generator().manual_seed(7)
    b, r, d = 5, 3, 4
    leaves = [torch.randn(b, r, d, generator=gen, requires_grad=True) for _ in range(4)]
    ids1, ids2 = (torch.randint(0, 3, (b, r), generator=gen) for _ in range(2))
    expected = brute_force(*leaves, ids1, ids2, 0.2)
    whole = DetConLoss(temperature=0.2, block_images=None)(*leaves, ids1, ids2)
    whole_grads = torch.autograd.grad(whole, leaves)
    blocked = DetConLoss(temperature=0.2, block_images=block_images)(*leaves, ids1, ids2)
    assert abs(blocked.item() - expected) < 1e-4 * max(1.0, abs(expected))
    for got, want in zip(torch.autograd.grad(blocked, leaves), whole_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    shared = leaves[:2]  # DetCon_S: targets are the predictions
    whole = DetConLoss(block_images=None)(*shared, *shared, ids1, ids2)
    blocked = DetConLoss(block_images=block_images)(*shared, *shared, ids1, ids2)
    torch.testing.assert_close(blocked, whole)
    for got, want in zip(torch.autograd.grad(blocked, shared),
                         torch.autograd.grad(whole, shared)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_blocks_keep_only_their_inputs_for_the_backward():
    """What autograd saves for the backward, whole batch against blocks: the
    (B, R, 2 B R) logits and their softmax are not kept with blocks."""
    from mmssl_ext.analysis.benchmark import count_saved_activations
    b, r, d = 32, 16, 8
    leaves = [torch.randn(b, r, d, requires_grad=True) for _ in range(4)]
    ids = torch.randint(0, 8, (b, r))
    saved = {}
    for block in (None, 4):
        with count_saved_activations() as storages:
            DetConLoss(block_images=block)(*leaves, ids, ids)
        saved[block] = sum(storages.values())
    logits_bytes = b * r * 2 * b * r * 4  # one fp32 logits tensor of one direction
    assert saved[None] > 2 * logits_bytes
    assert saved[4] < logits_bytes / 4
    with pytest.raises(ValueError, match='block_images'):
        DetConLoss(block_images=0)


def test_the_memory_benchmark_measures_less_saved_with_blocks_and_the_same_loss(capsys):
    """``detcon_loss_memory`` (behind tools/analysis_tools/benchmark_detcon_loss.py):
    8 images against 16 gathered, 16 masks. Whole: at least the two logits
    tensors and their log-softmax kept per direction (the unit is computed by
    hand: 8 x 16 x 2 x 16 x 16 x 4 bytes); blocks of 2: only their inputs."""
    import importlib.util
    import os.path as osp

    from mmssl_ext.analysis.benchmark import detcon_loss_memory

    from .conftest import REPO_ROOT
    whole = detcon_loss_memory(8, 16, masks=16, dim=32, block_images=None)
    blocks = detcon_loss_memory(8, 16, masks=16, dim=32, block_images=2)
    assert whole['logits_mib'] == pytest.approx(8 * 16 * 2 * 16 * 16 * 4 / 2**20)
    assert whole['saved_mib'] > 4 * whole['logits_mib']
    assert blocks['saved_mib'] < whole['logits_mib']
    assert blocks['loss'] == pytest.approx(whole['loss'], rel=1e-6)
    assert whole['peak_mib'] is None and whole['ms'] > 0  # peak: CUDA only
    tool = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'benchmark_detcon_loss.py')
    spec = importlib.util.spec_from_file_location('benchmark_detcon_loss', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(['--images', '4', '--processes', '2', '--blocks', '0', '2']) == 0
    assert capsys.readouterr().out.count('\n| 4 | 8 |') == 2
