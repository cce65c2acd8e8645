"""Region masks: id maps, majority pooling, id sampling and mask pooling."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmssl_ext.models.utils import mask_pool, sample_present_ids
from mmssl_ext.structures import felzenszwalb_ids, grid_ids, instance_ids, majority_ids


def naive_majority(ids: np.ndarray, gh: int, gw: int) -> np.ndarray:
    """Per-cell counting loop, written independently of the library function."""
    h, w = ids.shape
    out = np.zeros((gh, gw), np.int64)
    for i in range(gh):
        for j in range(gw):
            cell = [ids[y, x] for y in range(h) for x in range(w)
                    if y * gh // h == i and x * gw // w == j]
            counts = {}
            for v in cell:
                counts[int(v)] = counts.get(int(v), 0) + 1
            best = max(counts.values())
            out[i, j] = min(v for v, c in counts.items() if c == best)
    return out.reshape(-1)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 3), h=st.integers(4, 20), w=st.integers(4, 20), gh=st.integers(1, 4),
       gw=st.integers(1, 4), num_ids=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_majority_ids_equals_a_naive_count(b, h, w, gh, gw, num_ids, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, num_ids, size=(b, h, w)) * 1000  # sparse, large ids
    out = majority_ids(torch.from_numpy(ids), (gh, gw))
    assert out.shape == (b, gh * gw)
    for i in range(b):
        np.testing.assert_array_equal(out[i].numpy(), naive_majority(ids[i], gh, gw))


def test_majority_ids_of_a_224_view_on_a_7x7_grid():
    ids = torch.zeros(1, 224, 224, dtype=torch.int64)
    ids[0, :, 112:] = 5  # right half
    ids[0, :32, :] = 9   # top cell row
    out = majority_ids(ids, (7, 7)).view(7, 7)
    assert (out[0] == 9).all()
    # Column 3 spans pixels 96..127: 16 px of id 0 and 16 of id 5 -> tie -> 0.
    assert (out[1:, :3] == 0).all() and (out[1:, 3] == 0).all() and (out[1:, 4:] == 5).all()


def test_grid_ids():
    ids = grid_ids(6, 9, 3)
    assert ids.dtype == np.uint16
    np.testing.assert_array_equal(ids[::2, ::3], np.arange(9).reshape(3, 3))
    assert (grid_ids(5, 7, 1) == 0).all()  # one global mask: SimCLR


def test_instance_ids_paint_later_instances_over_earlier_ones():
    a = np.zeros((4, 4), bool)
    a[:3, :3] = True
    b = np.zeros((4, 4), bool)
    b[2:, 2:] = True
    ids = instance_ids([a, b], 4, 4)
    assert ids.dtype == np.uint16
    assert ids[0, 0] == 1 and ids[2, 2] == 2 and ids[3, 3] == 2 and ids[3, 0] == 0
    with pytest.raises(ValueError, match='instance mask 0'):
        instance_ids([np.zeros((3, 3), bool)], 4, 4)


def test_felzenszwalb_ids_split_two_flat_regions():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32:] = 255
    # min_size above the blur fringe at the edge (64 px columns): two regions.
    ids = felzenszwalb_ids(image, scale=100, min_size=200)
    assert ids.dtype == np.uint16 and ids.shape == (64, 64)
    assert len(np.unique(ids)) == 2 and ids[0, 0] != ids[0, 63]
    with pytest.raises(ValueError, match='uint8'):
        felzenszwalb_ids(image.astype(np.float32))


def test_sample_present_ids_draws_only_and_all_present_ids():
    cell_ids = torch.tensor([[3, 3, 7, 7], [5, 5, 5, 5]])
    gen = torch.Generator().manual_seed(0)
    sampled = sample_present_ids(cell_ids, 400, generator=gen)
    assert sampled.shape == (2, 400)
    assert set(sampled[0].tolist()) == {3, 7} and set(sampled[1].tolist()) == {5}
    # Uniform over present masks (not over cells): 3 and 7 about equally often.
    assert 150 < int((sampled[0] == 3).sum()) < 250


def test_mask_pool_equals_a_loop():
    torch.manual_seed(0)
    feats = torch.randn(2, 5, 3, 3)
    cell_ids = torch.randint(0, 3, (2, 9))
    sample_ids = torch.tensor([[0, 1, 2, 9], [2, 2, 0, 1]])
    out = mask_pool(feats, cell_ids, sample_ids)
    for b in range(2):
        for r in range(4):
            cells = [i for i in range(9) if cell_ids[b, i] == sample_ids[b, r]]
            expected = (feats[b].reshape(5, 9)[:, cells].mean(dim=1) if cells
                        else torch.zeros(5))
            torch.testing.assert_close(out[b, r], expected)
