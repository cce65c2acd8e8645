"""mmengine checkpoints load with weights_only=True; code-carrying pickles do not."""
import io
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import mmssl_ext.compat as compat


def test_allow_list_is_applied_on_import():
    assert compat.MMENGINE_CHECKPOINT_SAFE_GLOBALS
    assert HistoryBuffer in torch.serialization.get_safe_globals()


def test_message_hub_state_round_trips_weights_only(tmp_path):
    buffer = HistoryBuffer()
    for value in (1.5, np.float64(2.5), 3):
        buffer.update(value)
    ckpt = dict(meta=dict(seed=np.int64(3), arr=np.arange(4, dtype=np.float32),
                          flag=np.bool_(True)),
                message_hub=dict(log_scalars={'train/loss': buffer}),
                state_dict={'w': torch.ones(2)})
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    restored = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(restored, HistoryBuffer)
    np.testing.assert_allclose(restored.data[0], [1.5, 2.5, 3])
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(4, dtype=np.float32))
    assert loaded['meta']['seed'] == 3


def test_history_buffer_loads_in_a_fresh_process(tmp_path, monkeypatch):
    # mmengine fills HistoryBuffer._statistics_methods on the first instance;
    # a resuming process may load before creating any.
    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = tmp_path / 'hub.pth'
    torch.save({'hub': buffer}, path)
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    assert isinstance(torch.load(path, weights_only=True)['hub'], HistoryBuffer)


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    class Payload:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = tmp_path / 'getattr.pth'
    torch.save({'x': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)


class _Exploit:
    """A pickle that runs a command when loaded."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'payload': _Exploit()}, f)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(path, weights_only=True)


def test_default_load_is_weights_only():
    # torch >= 2.6: the default (what mmengine 0.10.7 uses) refuses code too.
    buf = io.BytesIO()
    torch.save({'payload': _Exploit()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf)


def _rotate_hue_cv2(img, hue_factor):
    """The intended maths, stated directly: hue (0..255 per turn) plus the
    truncated shift, modulo 256 (numpy 1's cast, torchvision's rotation)."""
    import cv2
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).astype(np.int64)
    hsv[..., 0] = (hsv[..., 0] + int(hue_factor * 255)) % 256
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR_FULL)


@pytest.mark.parametrize('hue_factor', [-0.5, -0.1, -0.003, 0.0, 0.2])
def test_adjust_hue_negative_factors_rotate_hue(hue_factor):
    import mmcv
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    # mmpretrain's ColorJitter calls mmcv.adjust_hue: it must be the patched one.
    assert mmcv.adjust_hue is compat.adjust_hue
    out = mmcv.adjust_hue(img, hue_factor, backend='cv2')
    np.testing.assert_array_equal(out, _rotate_hue_cv2(img, hue_factor))
    pil = mmcv.adjust_hue(img, hue_factor, backend='pillow')
    assert pil.shape == img.shape and pil.dtype == np.uint8
    with pytest.raises(ValueError, match='not in'):
        mmcv.adjust_hue(img, -0.6)


def test_adjust_hue_pillow_matches_rotation_in_pillow_hsv():
    from PIL import Image
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    out = compat.adjust_hue(img, -0.2, backend='pillow')
    hsv_in = np.array(Image.fromarray(img[..., ::-1]).convert('HSV')).astype(np.int64)
    hsv_in[..., 0] = (hsv_in[..., 0] + int(-0.2 * 255)) % 256
    expected = np.array(Image.fromarray(hsv_in.astype(np.uint8), 'HSV').convert('RGB'))[..., ::-1]
    np.testing.assert_array_equal(out, expected)


def test_maskfeat_hog_targets_compute_in_fp32_under_autocast():
    # mmpretrain 1.2.0's HOGGenerator scatters conv outputs (bf16 under
    # autocast) into an fp32 histogram and fails; the shim runs it in fp32.
    import torch
    from mmpretrain.models.selfsup.maskfeat import HOGGenerator

    from mmssl_ext import register_all_modules
    register_all_modules(init_default_scope=False)  # applies the shim
    hog = HOGGenerator(nbins=9, pool=8, gaussian_window=16)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    expected = hog(images)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = hog(images)  # fp32 images, as MaskFeat passes them; the convs would run in bf16
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


def test_the_hue_shim_is_a_no_op_where_mmcv_has_no_overflow(monkeypatch):
    """On the pinned stack (mmcv 2.1.0, numpy 2) the probe finds the bug; with
    an mmcv whose adjust_hue takes negative factors (a fixed release, or
    numpy 1) nothing is replaced."""
    import mmcv
    from mmcv.image import photometric
    assert compat.hue_rotation_overflows(compat._MMCV_ADJUST_HUE)  # the pinned mmcv
    assert not compat.hue_rotation_overflows(compat.adjust_hue)

    def fixed_adjust_hue(img, hue_factor, backend=None):
        return img

    monkeypatch.setattr(compat, '_MMCV_ADJUST_HUE', None)
    for namespace in (mmcv, mmcv.image, photometric):
        monkeypatch.setattr(namespace, 'adjust_hue', fixed_adjust_hue)
    assert compat.patch_mmcv_adjust_hue() is False
    assert mmcv.adjust_hue is photometric.adjust_hue is fixed_adjust_hue
    assert compat._MMCV_ADJUST_HUE is None


def test_the_hog_shim_is_a_no_op_where_mmpretrain_computes_in_fp32(monkeypatch):
    import torch
    from mmpretrain.models.selfsup.maskfeat import HOGGenerator

    from mmssl_ext import register_all_modules
    register_all_modules(init_default_scope=False)
    wrapped = HOGGenerator.forward
    assert compat.hog_fails_under_autocast(wrapped.__wrapped__)  # mmpretrain 1.2.0
    assert not compat.hog_fails_under_autocast(wrapped)

    def fixed_forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return wrapped.__wrapped__(self, x.float())

    monkeypatch.setattr(HOGGenerator, 'forward', fixed_forward)
    assert compat.patch_mmpretrain_hog_generator() is False
    assert HOGGenerator.forward is fixed_forward


def test_a_registry_without_private_children_is_refused_clearly(monkeypatch):
    import mmssl_ext.registry as registry

    class NoChildren:
        pass

    monkeypatch.setattr(registry.MODELS, '_get_root_registry', lambda: NoChildren())
    with pytest.raises(RuntimeError, match=r'Registry._children, which mmengine .* does not '
                       r'have; install the tested mmengine \(>=0.10.4,<0.11'):
        registry._reachable_from_every_scope(registry.MODELS)
