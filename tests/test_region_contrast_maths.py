"""RoI features and InfoNCE against independent computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmssl_ext.models.losses import info_nce_logits, info_nce_loss
from mmssl_ext.models.utils import boxes_to_rois, region_features


def bilinear(feature: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Hand-written bilinear sample of (C, H, W) at continuous cell coords (x, y)."""
    x0, y0 = math.floor(x), math.floor(y)
    dx, dy = x - x0, y - y0
    return ((1 - dx) * (1 - dy) * feature[:, y0, x0] + dx * (1 - dy) * feature[:, y0, x0 + 1]
            + (1 - dx) * dy * feature[:, y0 + 1, x0] + dx * dy * feature[:, y0 + 1, x0 + 1])


def test_rois_are_image_major():
    boxes = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    rois = boxes_to_rois(boxes)
    assert rois[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
    torch.testing.assert_close(rois[4, 1:], boxes[1, 1])


def test_region_feature_of_a_box_equals_bilinear_sample_at_its_centre():
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 7, 7)
    # 1x1 output with one sample: the value at the box centre, in cell units
    # x / 32 - 0.5 (aligned=True).
    boxes = torch.tensor([[[40., 72., 104., 136.]], [[10., 20., 90., 60.]]])
    out = region_features(feats, boxes, stride=32, output_size=1, sampling_ratio=1)
    for i in range(2):
        x1, y1, x2, y2 = boxes[i, 0].tolist()
        cx, cy = (x1 + x2) / 2 / 32 - 0.5, (y1 + y2) / 2 / 32 - 0.5
        torch.testing.assert_close(out[i, 0], bilinear(feats[i], cx, cy))


def test_region_feature_of_a_constant_map_is_the_constant():
    feats = torch.full((1, 4, 7, 7), 2.5)
    out = region_features(feats, torch.tensor([[[32., 32., 160., 128.]]]), stride=32)
    torch.testing.assert_close(out, torch.full((1, 1, 4), 2.5))


def test_info_nce_on_a_hand_built_case():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.6, 0.8]])
    queue = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # (K, D): keys (0,1) and (1,0)
    extra = torch.tensor([[[-1.0, 0.0]]])
    logits = info_nce_logits(q, k, queue, extra, temperature=0.5)
    torch.testing.assert_close(logits, torch.tensor([[1.2, -2.0, 0.0, 2.0]]))
    expected = -1.2 + math.log(math.exp(1.2) + math.exp(-2.0) + math.exp(0.0) + math.exp(2.0))
    assert abs(info_nce_loss(q, k, queue, extra, 0.5).item() - expected) < 1e-6


def test_info_nce_equals_cross_entropy_of_mmpretrain_layout():
    torch.manual_seed(1)
    q, k = F.normalize(torch.randn(5, 8), dim=1), F.normalize(torch.randn(5, 8), dim=1)
    queue = F.normalize(torch.randn(8, 11), dim=0)  # mmpretrain's MoCo layout: (D, K)
    l_pos = torch.einsum('nc,nc->n', q, k)[:, None]
    l_neg = torch.einsum('nc,ck->nk', q, queue)
    expected = F.cross_entropy(torch.cat([l_pos, l_neg], 1) / 0.2, torch.zeros(5).long())
    torch.testing.assert_close(info_nce_loss(q, k, queue.T), expected)  # ours: a key a row


@pytest.mark.parametrize('seed', range(3))
def test_region_features_equal_mmcv_aligned_roi_align_on_random_boxes(seed):
    # mmcv's compiled RoIAlign (aligned=True, adaptive sampling) is what the
    # pooling used before torchvision's; both must agree on random maps/boxes,
    # also on a channels-last map, which mmcv's CPU kernel reads wrong.
    from mmcv.ops import RoIAlign
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(3, 8, 5, 7, generator=gen)
    xy = torch.rand(3, 4, 2, generator=gen) * torch.tensor([200., 140.])
    wh = 8 + torch.rand(3, 4, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + wh], dim=2)
    ours = region_features(feats, boxes, stride=32, output_size=7)
    mmcv = RoIAlign(7, spatial_scale=1 / 32, sampling_ratio=0, aligned=True)(
        feats, boxes_to_rois(boxes)).mean(dim=(2, 3)).view(3, 4, -1)
    torch.testing.assert_close(ours, mmcv, atol=1e-5, rtol=1e-4)
    channels_last = region_features(feats.to(memory_format=torch.channels_last), boxes,
                                    stride=32, output_size=7)
    torch.testing.assert_close(channels_last, ours, atol=1e-6, rtol=1e-5)
