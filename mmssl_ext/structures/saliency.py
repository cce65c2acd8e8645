"""Unsupervised saliency and foreground pasting, for DiLo's copy-paste views.

Pure numpy / scikit-image functions on (H, W, 3) uint8 images in pixels of the
original image.
"""
import numpy as np
from scipy import ndimage
from skimage.filters import gaussian
from skimage.transform import resize


def spectral_residual_saliency(image: np.ndarray, work_width: int = 64,
                               sigma: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency (Hou and Zhang, CVPR 2007).

    The log amplitude spectrum of the (grayscale, downsized) image minus its
    3 x 3 local mean is the "residual"; back in the image domain with the
    original phase, its squared magnitude, smoothed, marks what stands out
    from the image's statistically expected structure.

    Args:
        image: (H, W, 3) or (H, W) array.
        work_width: the image is analysed at this width (the method's
            recommended 64 px), the aspect ratio kept.
        sigma: Gaussian smoothing of the map, in work pixels.

    Returns:
        (H, W) float32 map in [0, 1] (all zeros for a flat image).
    """
    gray = image.astype(np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    h, w = gray.shape
    work_h = max(1, round(h * work_width / w))
    small = resize(gray, (work_h, work_width), anti_aliasing=True, preserve_range=True)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode='nearest')
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = gaussian(saliency, sigma=sigma)
    saliency = resize(saliency, (h, w), preserve_range=True)
    low, high = saliency.min(), saliency.max()
    if high - low < 1e-12 or np.ptp(small) < 1e-6:
        return np.zeros((h, w), np.float32)
    return ((saliency - low) / (high - low)).astype(np.float32)


def paste_foreground(image: np.ndarray, background: np.ndarray,
                     alpha: np.ndarray) -> np.ndarray:
    """``alpha * image + (1 - alpha) * background``, rounded to uint8.

    Args:
        image, background: (H, W, 3) uint8, the same size.
        alpha: (H, W) in [0, 1], 1 on the foreground kept from ``image``.
    """
    if image.shape != background.shape:
        raise ValueError(f'background {background.shape} must match the image {image.shape}')
    a = np.clip(alpha, 0., 1.)[..., None]
    out = a * image.astype(np.float32) + (1. - a) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
