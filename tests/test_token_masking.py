"""ccMIM's token importance and dividing strategies against direct computations."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.models.utils.attention import MultiheadAttention

from mmssl_ext.models.utils import cls_attention_row, divide_tokens


def test_cls_row_equals_the_full_attention_matrix():
    torch.manual_seed(0)
    attn = MultiheadAttention(embed_dims=24, num_heads=3)
    tokens = torch.randn(2, 1 + 10, 24)
    b, n, _ = tokens.shape
    qkv = attn.qkv(tokens).reshape(b, n, 3, 3, 8).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    full = (q @ k.transpose(-2, -1) / math.sqrt(8)).softmax(dim=-1)  # (B, H, N, N)
    torch.testing.assert_close(cls_attention_row(attn, tokens), full[:, :, 0, 1:].mean(dim=1))


def test_importance_without_noise_masks_exactly_the_top_patches():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.0, 0.6]])
    keep, masked, restore, mask = divide_tokens(8, 1, 0.75, 'importance', scores)
    assert sorted(keep[0].tolist()) == [0, 6]
    assert sorted(masked[0].tolist()) == sorted(torch.topk(scores[0], 6).indices.tolist())
    assert mask[0].tolist() == [0, 1, 1, 1, 1, 1, 0, 1]
    torch.testing.assert_close(torch.argsort(restore, dim=1),
                               torch.cat([keep, masked], dim=1))


def test_importance_sampling_matches_the_official_formula():
    gen = torch.Generator().manual_seed(3)
    scores = torch.rand(4, 16)
    keep, masked, _, _ = divide_tokens(16, 4, 0.75, 'importance_sampling', scores,
                                       generator=gen)
    noise = torch.rand(4, 16, generator=torch.Generator().manual_seed(3))
    # Official rule, written out: ratio of the two softmaxes, ascending, lowest 25% visible.
    ratio = torch.exp(scores) / torch.exp(scores).sum(1, keepdim=True) / (
        torch.exp(noise) / torch.exp(noise).sum(1, keepdim=True))
    order = torch.argsort(ratio, dim=1)
    assert torch.equal(keep, order[:, :4]) and torch.equal(masked, order[:, 4:])


def test_random_strategy_has_mae_statistics():
    gen = torch.Generator().manual_seed(0)
    _, _, _, mask = divide_tokens(196, 2000, 0.75, 'random', generator=gen)
    assert (mask.sum(1) == 147).all()  # round(196 * 0.25) = 49 visible
    # Every patch is masked with probability 0.75, independently of its position.
    assert (mask.mean(0) - 0.75).abs().max() < 0.05


def _masked_neighbour_fraction(mask: torch.Tensor, side: int) -> float:
    """Mean, over masked patches, of the fraction of their 4-neighbours masked."""
    grid = mask.view(-1, side, side).float()
    padded = torch.nn.functional.pad(grid, (1, 1, 1, 1))
    inside = torch.nn.functional.pad(torch.ones_like(grid), (1, 1, 1, 1))
    shifts = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    masked_nb = sum(padded.roll(s, dims=(1, 2))[:, 1:-1, 1:-1] for s in shifts)
    count_nb = sum(inside.roll(s, dims=(1, 2))[:, 1:-1, 1:-1] for s in shifts)
    return float(((masked_nb / count_nb) * grid).sum() / grid.sum())


def test_blockwise_masks_contiguous_blocks_of_the_exact_count():
    gen = torch.Generator().manual_seed(0)
    # BEiT's setting (40% of 14 x 14) and ccMIM's (75%), blocks of >= 16 patches.
    for ratio in (0.4, 0.75):
        _, _, _, blocks = divide_tokens(196, 500, ratio, 'blockwise', generator=gen)
        _, _, _, random = divide_tokens(196, 500, ratio, 'random', generator=gen)
        assert (blocks.sum(1) == 196 - round(196 * (1 - ratio))).all()
        # A masked patch's neighbours are masked far more often than at random
        # (where the fraction is just the mask ratio).
        assert _masked_neighbour_fraction(random, 14) == pytest.approx(ratio, abs=0.02)
        assert _masked_neighbour_fraction(blocks, 14) > ratio + 0.1
        # Every position is reached (borders less often: blocks must fit, as in BEiT).
        assert blocks.mean(0).min() > 0.02


def _beit_one_image_at_a_time(batch, grid, num_masked, min_block, rng, min_aspect=0.3):
    """The rule ``blockwise_mask`` states, one image at a time with Python's
    ``random`` (as BEiT's MaskingGenerator loops)."""
    import math
    h, w = grid
    out = np.zeros((batch, h, w), dtype=bool)
    for mask in out:
        count = attempts = 0
        while count < num_masked and attempts < 1000:
            attempts += 1
            remaining = num_masked - count
            area = rng.uniform(min(min_block, remaining), remaining)
            aspect = math.exp(rng.uniform(math.log(min_aspect), -math.log(min_aspect)))
            bh, bw = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if not (1 <= bh <= h and 1 <= bw <= w):
                continue
            top, left = rng.randint(0, h - bh), rng.randint(0, w - bw)
            new = bh * bw - int(mask[top:top + bh, left:left + bw].sum())
            if 0 < new <= remaining:
                mask[top:top + bh, left:left + bw] = True
                count += new
    return out.reshape(batch, -1)


def test_the_batched_blockwise_draw_has_beits_per_image_distribution():
    """All images drawn together (one round of blocks for the batch at a
    time) against BEiT's loop over one image at a time: the same exact
    count, the same clumping and the same coverage of each position."""
    import random

    from mmssl_ext.models.utils.token_masking import blockwise_mask
    batch, grid, num_masked = 3000, (14, 14), 147
    ours = blockwise_mask(batch, grid, num_masked, generator=torch.Generator().manual_seed(0))
    beit = torch.from_numpy(_beit_one_image_at_a_time(batch, grid, num_masked, 16,
                                                      random.Random(0)))
    assert (ours.sum(1) == num_masked).float().mean() > 0.99
    assert (beit.sum(1) == num_masked).float().mean() > 0.99
    assert _masked_neighbour_fraction(ours, 14) == pytest.approx(
        _masked_neighbour_fraction(beit, 14), abs=0.01)
    # coverage of each position: 3000 draws, binomial spread about 0.01
    assert (ours.float().mean(0) - beit.float().mean(0)).abs().max() < 0.05


def test_blockwise_terminates_on_grids_smaller_than_a_block():
    gen = torch.Generator().manual_seed(0)
    keep, masked, _, mask = divide_tokens(16, 50, 0.75, 'blockwise', generator=gen,
                                          grid=(4, 4), min_block=16)
    assert (mask.sum(1) == 12).all() and keep.shape == (50, 4)
    with pytest.raises(ValueError, match='patch grid'):
        divide_tokens(12, 1, 0.5, 'blockwise')


def test_gumbel_follows_the_scores_and_flattens_with_temperature():
    gen = torch.Generator().manual_seed(0)
    scores = torch.linspace(0, 4, 16).expand(4000, 16)
    _, _, _, sharp = divide_tokens(16, 4000, 0.5, 'gumbel', scores, temperature=0.5,
                                   generator=gen)
    _, _, _, flat = divide_tokens(16, 4000, 0.5, 'gumbel', scores, temperature=100.0,
                                  generator=gen)
    # Higher importance, masked more often; a high temperature is nearly uniform.
    assert sharp.mean(0)[-1] > 0.95 and sharp.mean(0)[0] < 0.05
    assert (flat.mean(0) - 0.5).abs().max() < 0.06


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match='strategy must be'):
        divide_tokens(8, 1, 0.5, 'checkerboard')
    with pytest.raises(ValueError, match='needs importance scores'):
        divide_tokens(8, 1, 0.5, 'importance')
    with pytest.raises(ValueError, match='mask_ratio'):
        divide_tokens(8, 1, 1.0, 'random')


def _small_vit(**kwargs):
    from mmssl_ext.models.backbones import ImportanceMaskingViT
    torch.manual_seed(0)
    vit = ImportanceMaskingViT(arch=dict(embed_dims=32, num_layers=3, num_heads=4,
                                         feedforward_channels=64),
                               img_size=32, patch_size=8, mask_ratio=0.75, **kwargs)
    vit.init_weights()
    vit.eval()  # mmpretrain's ViT.train() returns None, so no chaining
    return vit


def test_importance_sums_the_cls_rows_of_every_layer():
    vit = _small_vit()
    images = torch.randn(2, 3, 32, 32)
    # Naive: the full attention matrix of each layer, from the layer's own input.
    x = vit._with_cls(vit.patch_tokens(images))
    expected = torch.zeros(2, 16)
    with torch.no_grad():
        for layer in vit.layers:
            h = layer.ln1(x)
            qkv = layer.attn.qkv(h).reshape(2, 17, 3, 4, 8).permute(2, 0, 3, 1, 4)
            full = (qkv[0] @ qkv[1].transpose(-2, -1) / math.sqrt(8)).softmax(-1)
            expected += full[:, :, 0, 1:].mean(1)
            x = layer(x)
    scores = vit.importance(images)
    torch.testing.assert_close(scores, expected)
    assert not scores.requires_grad


def test_random_division_and_set_encoding_reproduce_mae():
    # With the random strategy and the same noise, encoding the visible set is
    # what mmpretrain's MAEViT computes.
    vit = _small_vit(strategy='random')
    images = torch.randn(2, 3, 32, 32)
    torch.manual_seed(5)
    mae_out, mae_mask, mae_restore = vit(images)
    torch.manual_seed(5)
    keep, masked, restore, mask = divide_tokens(16, 2, 0.75, 'random')
    ours = vit.encode_set(vit.patch_tokens(images), keep)
    torch.testing.assert_close(ours, mae_out)
    torch.testing.assert_close(mask, mae_mask)
    assert torch.equal(restore, mae_restore)
