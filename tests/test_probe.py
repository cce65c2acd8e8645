"""The demo's probes against independent computations."""
import torch
import torch.nn.functional as F
from torch import nn

from mmssl_ext.evaluation import (extract_features, knn_accuracy, linear_probe_accuracy,
                                  load_object_crops)


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
