"""Unsupervised saliency and foreground pasting, for DiLo's copy-paste views.

Pure numpy / scikit-image functions on (H, W, 3) uint8 images in pixels of the
original image.
"""
from typing import Callable, Dict, Tuple

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import shortest_path
from skimage.color import rgb2lab
from skimage.filters import gaussian
from skimage.segmentation import slic
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


def superpixel_graph(labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Adjacency of superpixels and which of them touch the image border.

    Args:
        labels: (H, W) int superpixel ids 0..N-1.

    Returns:
        (N, N) bool adjacency (4-connectivity, no self loops) and (N,) bool
        "touches the border".
    """
    n = int(labels.max()) + 1
    pairs = np.concatenate([
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
        np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    adjacency = np.zeros((n, n), bool)
    adjacency[pairs[:, 0], pairs[:, 1]] = True
    adjacency |= adjacency.T
    border = np.zeros(n, bool)
    border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    return adjacency, border


def optimise_saliency(background_weight: np.ndarray, foreground_weight: np.ndarray,
                      smoothness: np.ndarray) -> np.ndarray:
    """The minimiser of RBD's saliency cost (Zhu et al. 2014, Eq. 9).

    ``sum_i w_bg_i s_i^2 + sum_i w_fg_i (s_i - 1)^2 + sum_{i<j} w_ij (s_i - s_j)^2``
    is quadratic; its minimiser solves ``(diag(w_bg + w_fg) + L) s = w_fg``
    with ``L = diag(W 1) - W`` the Laplacian of the smoothness weights.

    Args:
        background_weight, foreground_weight: (N,) non-negative.
        smoothness: (N, N) symmetric non-negative ``w_ij`` (0 off the graph).

    Returns:
        (N,) saliency of each superpixel.
    """
    laplacian = np.diag(smoothness.sum(1)) - smoothness
    system = np.diag(background_weight + foreground_weight) + laplacian
    return np.linalg.solve(system + 1e-10 * np.eye(len(system)), foreground_weight)


def rbd_saliency(image: np.ndarray, n_segments: int = 200, compactness: float = 10.,
                 sigma_clr: float = 10., sigma_bndcon: float = 1., sigma_spa: float = 0.25,
                 mu: float = 0.1, max_side: int = 400) -> np.ndarray:
    """Saliency by robust background detection (Zhu, Liang, Wei, Sun, CVPR 2014).

    1. SLIC superpixels (``n_segments``) on the CIE-Lab image (scikit-image).
    2. A graph of adjacent superpixels, edges weighted by their mean-Lab
       distance, every pair of border superpixels linked as well; geodesic
       distances ``d_geo`` are its shortest paths.
    3. Boundary connectivity ``BndCon(p) = Len_bnd(p) / sqrt(Area(p))``, with
       ``Area(p) = sum_q exp(-d_geo(p, q)^2 / (2 sigma_clr^2))`` and
       ``Len_bnd`` the same sum over border superpixels; background
       probability ``w_bg = 1 - exp(-BndCon^2 / (2 sigma_bndcon^2))``.
    4. Background-weighted contrast
       ``wCtr(p) = sum_q d_app(p, q) w_spa(p, q) w_bg(q)`` with
       ``w_spa = exp(-d_spa^2 / (2 sigma_spa^2))`` (centroids in units of the
       image size), scaled to [0, 1]: the foreground weight.
    5. :func:`optimise_saliency` with ``w_ij = exp(-d_app^2 / (2 sigma_clr^2)) + mu``
       on adjacent pairs.

    Args:
        image: (H, W, 3) uint8 RGB (mmcv loads BGR: convert first), or
            (H, W) grayscale.
        max_side: the image is analysed with its longer side at most this many
            pixels (the paper's images are about 400 px).

    Returns:
        (H, W) float32 map in [0, 1], in pixels of ``image`` (all zeros for a
        flat image).
    """
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    scale = min(1., max_side / max(h, w))
    work = image if scale == 1. else (resize(image, (max(1, round(h * scale)),
                                                     max(1, round(w * scale))),
                                             anti_aliasing=True, preserve_range=True))
    if np.ptp(work) < 1e-6:
        return np.zeros((h, w), np.float32)
    lab = rgb2lab(work.astype(np.float32) / 255.)
    labels = slic(lab, n_segments=n_segments, compactness=compactness, convert2lab=False,
                  start_label=0, channel_axis=-1)
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(lab.shape[:2])
    n = int(labels.max()) + 1
    count = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(labels.ravel(), lab[..., c].ravel(), n) / count
                       for c in range(3)], 1)
    ys, xs = np.mgrid[:labels.shape[0], :labels.shape[1]]
    centroid = np.stack([np.bincount(labels.ravel(), (ys / labels.shape[0]).ravel(), n),
                         np.bincount(labels.ravel(), (xs / labels.shape[1]).ravel(), n)],
                        1) / count[:, None]

    adjacency, border = superpixel_graph(labels)
    d_app = np.linalg.norm(colour[:, None] - colour[None], axis=2)
    links = adjacency | (border[:, None] & border[None])
    np.fill_diagonal(links, False)
    graph = sparse.csr_matrix(np.where(links, d_app + 1e-9, 0.))  # 0 means "no edge"
    d_geo = shortest_path(graph, method='D', directed=False)
    affinity = np.exp(-d_geo ** 2 / (2 * sigma_clr ** 2))
    area = affinity.sum(1)
    len_bnd = affinity[:, border].sum(1)
    bnd_con = len_bnd / np.sqrt(area)
    w_bg = 1. - np.exp(-bnd_con ** 2 / (2 * sigma_bndcon ** 2))

    d_spa = np.linalg.norm(centroid[:, None] - centroid[None], axis=2)
    w_spa = np.exp(-d_spa ** 2 / (2 * sigma_spa ** 2))
    w_ctr = (d_app * w_spa * w_bg[None]).sum(1)
    w_ctr = (w_ctr - w_ctr.min()) / max(np.ptp(w_ctr), 1e-12)

    smooth = np.where(adjacency, np.exp(-d_app ** 2 / (2 * sigma_clr ** 2)) + mu, 0.)
    saliency = optimise_saliency(w_bg, w_ctr, smooth)[labels]
    if scale != 1.:
        saliency = resize(saliency, (h, w), order=1, preserve_range=True)
    low, high = saliency.min(), saliency.max()
    if high - low < 1e-12:
        return np.zeros((h, w), np.float32)
    return ((saliency - low) / (high - low)).astype(np.float32)


# The unsupervised saliency methods, by the name configs and tools use.
SALIENCY_METHODS: Dict[str, Callable[[np.ndarray], np.ndarray]] = dict(
    rbd=rbd_saliency, spectral_residual=spectral_residual_saliency)


def saliency_map(image: np.ndarray, method: str = 'rbd', **kwargs) -> np.ndarray:
    """``image``'s (H, W) float32 saliency in [0, 1] by ``method`` (see
    :data:`SALIENCY_METHODS`)."""
    if method not in SALIENCY_METHODS:
        raise ValueError(f'unknown saliency method {method!r}; one of {sorted(SALIENCY_METHODS)}')
    return SALIENCY_METHODS[method](image, **kwargs)


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
