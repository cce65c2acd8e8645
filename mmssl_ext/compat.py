"""Small shims for the pinned OpenMMLab releases on modern PyTorch.

Each shim names the release it works around and when it can be dropped. They
are applied when ``mmssl_ext`` is imported (the HOG one by
``register_all_modules``) and touch nothing in site-packages. A shim that
replaces library code first tries the bug on a tiny input and does nothing
where it is absent (a fixed release, or numpy 1 for the hue): a later release
is left alone without anyone having to remember to drop the shim.
docs/en/compat.md lists every global effect of importing the package.
"""
import pickle

import numpy as np
import torch

__all__ = [
    'MMENGINE_CHECKPOINT_SAFE_GLOBALS', 'allow_mmengine_checkpoints', 'adjust_hue',
    'hue_rotation_overflows', 'patch_mmcv_adjust_hue', 'hog_fails_under_autocast',
    'patch_mmpretrain_hog_generator'
]


def _numpy_globals() -> list:
    """What pickled numpy arrays and scalars reference, under both module names.

    numpy 2 moved ``numpy.core`` to ``numpy._core``; checkpoints written with
    either numpy name the reconstruct helpers by the path of the numpy that
    wrote them, so both spellings are allow-listed.
    """
    core = np._core if hasattr(np, '_core') else np.core
    entries: list = [np.ndarray, np.dtype]
    for helper in ('_reconstruct', 'scalar'):
        obj = getattr(core.multiarray, helper)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((obj, f'{module}.{helper}'))
    # numpy >= 1.25 pickles a dtype through its class (numpy.dtypes.Float64DType ...).
    for scalar_type in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                        np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                        np.float64, np.complex64, np.complex128, np.str_):
        entries.append(type(np.dtype(scalar_type)))
    return entries


_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(owner, name: str):
    """The only ``getattr`` an mmengine checkpoint needs, and nothing more.

    A ``HistoryBuffer`` pickles its statistics table as
    ``getattr(HistoryBuffer, 'mean')`` etc. Allow-listing the builtin
    ``getattr`` would let a pickle walk from any allowed class to arbitrary
    code (``__class__.__subclasses__()`` ...), so the name
    ``builtins.getattr`` is mapped to this function, which returns only the
    registered statistic methods of ``HistoryBuffer``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    # The table is filled lazily by the first HistoryBuffer() of a process, so
    # the four built-in statistics are allowed even before that.
    allowed = set(_HISTORY_BUFFER_STATISTICS).union(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed and hasattr(HistoryBuffer, name):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only the statistic methods '
        'of mmengine.logging.HistoryBuffer are allowed')


def _mmengine_globals() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_statistic, 'builtins.getattr')]


MMENGINE_CHECKPOINT_SAFE_GLOBALS: list = []


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

    Works around: torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``
    and mmengine 0.10.7 calls ``torch.load`` without the argument, so resume and
    ``load_from`` fail on the objects mmengine stores beside the weights: the
    message hub's ``HistoryBuffer`` and the numpy arrays, dtypes and scalars
    inside it. We allow-list exactly those classes; anything else (and any
    pickle that calls arbitrary code) is still refused by torch's safe
    unpickler; ``getattr`` is replaced by :func:`_history_buffer_statistic`.
    Drop when mmengine passes ``weights_only`` and stores plain tensors (not
    the case up to 0.10.7).
    """
    if MMENGINE_CHECKPOINT_SAFE_GLOBALS:
        return
    entries = _numpy_globals() + _mmengine_globals()
    torch.serialization.add_safe_globals(entries)
    MMENGINE_CHECKPOINT_SAFE_GLOBALS.extend(entries)


def adjust_hue(img: np.ndarray, hue_factor: float, backend=None) -> np.ndarray:
    """``mmcv.adjust_hue`` with the hue rotation made valid under numpy 2.

    Works around: mmcv 2.1.0 adds ``np.uint8(hue_factor * 255)`` to the hue
    channel; numpy 2 refuses a negative value there (OverflowError), so every
    ``ColorJitter`` with ``hue > 0`` fails on half of the draws. numpy 1 cast
    the truncated value modulo 256, which is the rotation intended (as in
    torchvision); this does the same explicitly. Positive factors are left to
    mmcv unchanged. Drop with an mmcv release that fixes it (none up to 2.2.0).

    Args:
        img: (H, W, 3) BGR image.
        hue_factor: shift of the hue channel, in [-0.5, 0.5] of a full turn.
        backend: 'cv2' or 'pillow'; None for mmcv's image backend.
    """
    from mmcv.image import io as mmcv_io
    from mmcv.image import photometric
    if hue_factor >= 0:
        return (_MMCV_ADJUST_HUE or photometric.adjust_hue)(img, hue_factor, backend=backend)
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    backend = mmcv_io.imread_backend if backend is None else backend
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        from PIL import Image
        if img.dtype != np.uint8:
            raise AssertionError('Pillow backend only support uint8 type')
        h, s, v = Image.fromarray(img[..., ::-1], mode='RGB').convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 addition wraps around: a rotation of the hue
        rotated = Image.merge('HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(rotated, dtype=img.dtype)[..., ::-1]
    if backend != 'cv2':
        raise ValueError(f"backend: {backend} is not supported. Supported backends are "
                         "'cv2', 'pillow'")
    cv2 = photometric.cv2
    dtype = img.dtype
    h, s, v = cv2.split(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL))
    h = h.astype(np.uint8)
    h += shift
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(dtype)


_MMCV_ADJUST_HUE = None


def hue_rotation_overflows(mmcv_adjust_hue) -> bool:
    """Whether ``mmcv_adjust_hue`` has the bug :func:`adjust_hue` works around:
    a negative factor on a 1 x 1 image raises ``OverflowError``."""
    try:
        mmcv_adjust_hue(np.zeros((1, 1, 3), np.uint8), -0.1)
    except OverflowError:
        return True
    return False


def patch_mmcv_adjust_hue() -> bool:
    """Point ``mmcv.adjust_hue`` (what mmpretrain's ColorJitter calls) at
    :func:`adjust_hue`, in the three namespaces it is reached through
    (``mmcv``, ``mmcv.image``, ``mmcv.image.photometric``), when mmcv's has
    the bug. Returns whether mmcv's function is (now) replaced."""
    global _MMCV_ADJUST_HUE
    import mmcv
    import mmcv.image
    from mmcv.image import photometric
    if _MMCV_ADJUST_HUE is not None:
        return True
    if not hue_rotation_overflows(photometric.adjust_hue):
        return False  # a fixed mmcv, or numpy 1: nothing to do
    _MMCV_ADJUST_HUE = photometric.adjust_hue
    for namespace in (mmcv, mmcv.image, photometric):
        namespace.adjust_hue = adjust_hue
    return True


def hog_fails_under_autocast(forward) -> bool:
    """Whether ``HOGGenerator.forward`` has the bug the HOG shim works around:
    a (1, 3, 16, 16) input under CPU bf16 autocast raises the scatter's dtype
    error."""
    from mmpretrain.models.selfsup.maskfeat import HOGGenerator
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            forward(HOGGenerator(), torch.zeros(1, 3, 16, 16))
    except RuntimeError as err:
        return 'dtype' in str(err)
    return False


def patch_mmpretrain_hog_generator() -> bool:
    """Compute MaskFeat's HOG targets in fp32 with autocast off, when
    mmpretrain's ``HOGGenerator`` fails under autocast. Returns whether its
    forward is (now) wrapped.

    mmpretrain 1.2.0's ``HOGGenerator.forward`` scatters the gradient
    magnitudes, which autocast makes fp16/bf16 (they come from conv2d), into
    an fp32 histogram: under AMP the step fails with ``scatter(): Expected
    self.dtype to be equal to src.dtype``, so its AMP config cannot train. The
    targets take no gradient, and fp32 is what they are without autocast.
    Applied by ``mmssl_ext.register_all_modules`` (which imports
    mmpretrain's models); drop it when mmpretrain casts there itself.
    """
    import functools

    from mmpretrain.models.selfsup.maskfeat import HOGGenerator
    forward = HOGGenerator.forward
    if getattr(forward, 'mmssl_fp32', False):
        return True
    if not hog_fails_under_autocast(forward):
        return False  # a fixed mmpretrain

    @functools.wraps(forward)
    def forward_in_fp32(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return forward(self, x.float())

    forward_in_fp32.mmssl_fp32 = True
    HOGGenerator.forward = forward_in_fp32
    return True


allow_mmengine_checkpoints()
patch_mmcv_adjust_hue()
