"""The demo's probes against independent computations."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmssl_ext.evaluation import (extract_features, knn_accuracy, linear_probe_accuracy,
                                  load_object_crops, reestimate_bn_statistics)


def brute_force_knn(train_f, train_y, test_f, test_y, k, temperature):
    correct = 0
    for feat, label in zip(test_f, test_y):
        sims = [(float(feat @ t), int(y)) for t, y in zip(train_f, train_y)]
        sims.sort(key=lambda s: -s[0])
        score = {}
        for sim, y in sims[:k]:
            score[y] = score.get(y, 0.0) + torch.exp(torch.tensor(sim / temperature)).item()
        correct += max(score, key=score.get) == int(label)
    return 100.0 * correct / len(test_f)


def test_knn_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    train_f = F.normalize(torch.randn(40, 8, generator=gen), dim=1)
    train_y = torch.randint(0, 3, (40, ), generator=gen)
    test_f = F.normalize(torch.randn(25, 8, generator=gen), dim=1)
    test_y = torch.randint(0, 3, (25, ), generator=gen)
    for k, t in ((1, 0.07), (5, 0.07), (10, 1.0)):
        expected = brute_force_knn(train_f, train_y, test_f, test_y, k, t)
        assert abs(knn_accuracy(train_f, train_y, test_f, test_y, k=k, temperature=t)
                   - expected) < 1e-6


def test_probes_separate_clusters_and_fail_on_noise():
    gen = torch.Generator().manual_seed(1)
    centres = torch.randn(4, 16, generator=gen) * 3
    labels = torch.arange(4).repeat(30)
    feats = F.normalize(centres[labels] + torch.randn(120, 16, generator=gen) * 0.5, dim=1)
    tr, te = slice(0, 80), slice(80, 120)
    assert knn_accuracy(feats[tr], labels[tr], feats[te], labels[te]) == 100.0
    assert linear_probe_accuracy(feats[tr], labels[tr], feats[te], labels[te]) == 100.0
    noise = F.normalize(torch.randn(120, 16, generator=gen), dim=1)
    assert linear_probe_accuracy(noise[tr], labels[tr], noise[te], labels[te]) < 60.0


def test_crops_and_features(synthetic_root):
    crops, labels = load_object_crops(f'{synthetic_root}/annotations/instances_val.json',
                                      f'{synthetic_root}/images/val', crop_size=32)
    assert crops.dtype == torch.uint8 and crops.shape[1:] == (3, 32, 32)
    assert len(crops) == len(labels) > 10

    class TwoStage(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 5, 3)

        def forward(self, x):
            return (x, self.conv(x))

    net = TwoStage()
    first, second = extract_features(net, crops, [0, 0, 0], [255, 255, 255], batch_size=7)
    assert first.shape == (len(crops), 3) and second.shape == (len(crops), 5)
    x = crops[:3].float() / 255
    torch.testing.assert_close(first[:3], F.normalize(x.mean((2, 3)), dim=1))
    manual = F.normalize(net.conv(x).mean((2, 3)), dim=1)
    torch.testing.assert_close(second[:3], manual.detach())


def test_bn_statistics_are_those_of_the_crops():
    """Hand check: one BatchNorm fed two equal batches ends with the average of
    the two batches' per-channel mean and unbiased variance; weights, momentum
    and mode are left as they were."""
    gen = torch.Generator().manual_seed(2)
    crops = torch.randint(0, 256, (10, 3, 4, 4), generator=gen, dtype=torch.uint8)
    mean, std = [120.0, 110.0, 100.0], [60.0, 50.0, 40.0]
    net = nn.Sequential(nn.BatchNorm2d(3, momentum=0.3))
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    net.eval()
    assert reestimate_bn_statistics(net, crops, mean, std, batch_size=5) == 1

    x = (crops.float() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    halves = x[:5], x[5:]
    expected_mean = sum(h.mean((0, 2, 3)) for h in halves) / 2
    expected_var = sum(h.transpose(0, 1).reshape(3, -1).var(1, unbiased=True) for h in halves) / 2
    torch.testing.assert_close(net[0].running_mean, expected_mean)
    torch.testing.assert_close(net[0].running_var, expected_var)
    assert net[0].momentum == 0.3 and not net.training
    assert torch.equal(net[0].weight, torch.full((3, ), 2.0))
    assert int(net[0].num_batches_tracked) == 2


def test_bn_reestimation_changes_a_random_resnet_and_nothing_without_bn():
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    net = ResNet(depth=18, out_indices=(3, ))
    net.init_weights()
    crops = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    before = extract_features(net, crops, [128] * 3, [64] * 3)[0]
    # As built, the running statistics are placeholders (0 and 1).
    assert float(net.bn1.running_mean.abs().max()) == 0.0
    assert reestimate_bn_statistics(net, crops, [128] * 3, [64] * 3) == 20
    assert float(net.bn1.running_mean.abs().max()) > 0.0
    after = extract_features(net, crops, [128] * 3, [64] * 3)[0]
    assert not torch.allclose(before, after)
    assert reestimate_bn_statistics(nn.Conv2d(3, 2, 1), crops, [0] * 3, [1] * 3) == 0
    fitted = net.bn1.running_mean.clone()
    with pytest.raises(ValueError, match='at least one crop'):
        reestimate_bn_statistics(net, crops[:0], [128] * 3, [64] * 3)
    assert torch.equal(net.bn1.running_mean, fitted)  # untouched


def test_linear_probe_is_the_optimum_of_its_objective():
    """The probe's classifier is the unique minimiser of the L2-regularised
    mean cross-entropy: scipy's L-BFGS-B on the same objective, written in
    numpy, predicts the same classes."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    gen = torch.Generator().manual_seed(3)
    centres = torch.randn(3, 6, generator=gen)
    labels = torch.arange(3).repeat(40)
    feats = centres[labels] + torch.randn(120, 6, generator=gen) * 1.5  # overlapping classes
    tr, te = slice(0, 90), slice(90, 120)
    decay = 1e-2
    ours = linear_probe_accuracy(feats[tr], labels[tr], feats[te], labels[te],
                                 weight_decay=decay)

    mean, std = feats[tr].mean(0), feats[tr].std(0) + 1e-6
    xtr = ((feats[tr] - mean) / std).double().numpy()
    xte = ((feats[te] - mean) / std).double().numpy()
    ytr = labels[tr].numpy()

    def objective(params):
        weight, bias = params[:18].reshape(6, 3), params[18:]
        logits = xtr @ weight + bias
        prob = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        loss = np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(ytr)), ytr])
        delta = prob
        delta[np.arange(len(ytr)), ytr] -= 1
        delta /= len(ytr)
        grad_w = xtr.T @ delta + decay * weight
        return (loss + 0.5 * decay * (weight ** 2).sum(),
                np.concatenate([grad_w.ravel(), delta.sum(0)]))

    best = minimize(objective, np.zeros(21), jac=True, method='L-BFGS-B',
                    options=dict(gtol=1e-10, maxiter=5000)).x
    pred = (xte @ best[:18].reshape(6, 3) + best[18:]).argmax(1)
    expected = float((pred == labels[te].numpy()).mean() * 100)
    assert abs(ours - expected) < 1e-4, (ours, expected)
    assert 40.0 < ours < 100.0  # overlapping classes: neither chance nor perfect
