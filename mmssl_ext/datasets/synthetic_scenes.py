"""A deterministic generator of small scene-centric images with annotations.

The embedded default dataset of the project: the demo, the tests and CI use
it, nothing is downloaded. Each scene holds several objects of ``K`` classes
on a textured background, with clutter and occlusion. A class is defined by
its *shape* and its *texture family* (stripes, checks, dots, ...); colours,
texture period and orientation, size, rotation and position are drawn per
instance, independently of the class, so colour carries no class information
(a network that only sees colour scores at chance). Colours come from a small
shared palette and backgrounds are muted, so that neither a scene's colour
histogram nor its background alone identifies it.

Written per split (``train``/``val``) under ``out_dir``::

    images/{split}/{index:06d}.png            RGB scene
    seg/{split}/{index:06d}.png               semantic map (0 background, 1..K classes)
    annotations/instances_{split}.json        COCO: images, boxes, instance masks (RLE)
    {split}.txt                               image-level labels "images/... label"
                                              (label = class of the largest object)
    meta.json                                 the generator's parameters and classes

With ``object_centric=True`` each image holds one large object near its
centre and no clutter, ImageNet-like, the counterpart against which the
scenes' lower semantic consistency is measured (MaskCo's ResNet distance,
``tools/analysis_tools/resnet_distance.py``).

Everything is a pure function of the parameters and the seed.
"""
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

SHAPES = ('disc', 'square', 'triangle', 'star', 'cross', 'ring', 'hexagon', 'crescent',
          'diamond', 'heart')
TEXTURES = ('stripes', 'checks', 'dots', 'rings', 'waves', 'grid', 'solid', 'zigzag',
            'blobs', 'diagonal_checks')


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of the generator (all sizes in pixels of the generated image)."""
    num_train: int = 2000
    num_val: int = 400
    image_size: int = 128
    num_classes: int = 8
    min_objects: int = 2
    max_objects: int = 4
    min_object_size: float = 0.3  # fraction of image_size
    max_object_size: float = 0.6
    num_distractors: int = 4  # small clutter shapes of no class
    min_visible: float = 0.35  # keep an instance only if this fraction stays visible
    seed: int = 0
    # One object of OBJECT_CENTRIC_SIZE near the centre, no distractors.
    object_centric: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(SHAPES):
            raise ValueError(f'num_classes must be in 1..{len(SHAPES)}, got {self.num_classes}')
        if self.image_size < 32:
            raise ValueError(f'image_size must be >= 32 px, got {self.image_size}')
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError('need 1 <= min_objects <= max_objects, got '
                             f'{self.min_objects}, {self.max_objects}')
        if not 0 < self.min_object_size <= self.max_object_size <= 1:
            raise ValueError('need 0 < min_object_size <= max_object_size <= 1')


# Object-centric images: the object's side (fraction of the image) and how far
# its centre may stray from the image's centre (fraction of the image).
OBJECT_CENTRIC_SIZE = (0.7, 0.9)
OBJECT_CENTRIC_SHIFT = 0.05


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a unit shape.

    Args:
        shape: one of :data:`SHAPES`.
        u, v: (H, W) coordinates in the object's rotated frame, the shape
            spanning about [-1, 1] on both axes.

    Returns:
        (H, W) bool mask.
    """
    r = np.hypot(u, v)
    theta = np.arctan2(v, u)
    if shape == 'disc':
        return r < 0.95
    if shape == 'square':
        return np.maximum(abs(u), abs(v)) < 0.78
    if shape == 'triangle':
        # Equilateral triangle with circumradius 1: three half-planes.
        angles = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        proj = [-(u * np.cos(a) + v * np.sin(a)) for a in angles]
        return np.max(proj, axis=0) < 0.5
    if shape == 'star':
        return r < 0.55 + 0.4 * np.cos(5 * theta) ** 2 * (np.cos(5 * theta) > 0)
    if shape == 'cross':
        return ((abs(u) < 0.3) & (abs(v) < 0.95)) | ((abs(v) < 0.3) & (abs(u) < 0.95))
    if shape == 'ring':
        return (r < 0.95) & (r > 0.55)
    if shape == 'hexagon':
        angles = np.arange(6) * np.pi / 3
        proj = [u * np.cos(a) + v * np.sin(a) for a in angles]
        return np.max(proj, axis=0) < 0.82
    if shape == 'crescent':
        return (r < 0.95) & (np.hypot(u - 0.45, v) > 0.75)
    if shape == 'diamond':
        return abs(u) / 0.6 + abs(v) < 0.95
    if shape == 'heart':
        x, y = u * 1.2, -v * 1.2 + 0.2
        return (x ** 2 + y ** 2 - 1) ** 3 - x ** 2 * y ** 3 < 0
    raise ValueError(f'unknown shape {shape!r}')


def texture_pattern(texture: str, u: np.ndarray, v: np.ndarray, period: float,
                    rng: np.random.Generator) -> np.ndarray:
    """A two-tone pattern in [0, 1] over coordinates in pixels.

    Args:
        texture: one of :data:`TEXTURES`.
        u, v: (H, W) pixel coordinates, already rotated by the pattern angle.
        period: pattern period in pixels.
        rng: source of the random phase (and blob centres).

    Returns:
        (H, W) float32 weights of the second colour.
    """
    phase = rng.uniform(0, period)
    uu, vv = (u + phase) / period, (v + phase) / period
    if texture == 'stripes':
        out = np.sin(2 * np.pi * uu) > 0
    elif texture == 'checks':
        out = (np.floor(uu) + np.floor(vv)) % 2 == 0
    elif texture == 'diagonal_checks':
        out = (np.floor(uu + vv) + np.floor(uu - vv)) % 2 == 0
    elif texture == 'dots':
        out = np.hypot(uu - np.round(uu), vv - np.round(vv)) < 0.28
    elif texture == 'rings':
        out = np.sin(2 * np.pi * np.hypot(u, v) / period) > 0
    elif texture == 'waves':
        out = np.sin(2 * np.pi * (uu + 0.35 * np.sin(2 * np.pi * vv / 2.5))) > 0
    elif texture == 'grid':
        out = (np.abs(uu - np.round(uu)) < 0.15) | (np.abs(vv - np.round(vv)) < 0.15)
    elif texture == 'zigzag':
        out = np.sin(2 * np.pi * (uu + np.abs((vv % 1.0) - 0.5))) > 0
    elif texture == 'solid':
        out = np.zeros_like(u, dtype=bool)
    elif texture == 'blobs':
        out = np.zeros_like(u, dtype=bool)
        span = max(float(np.ptp(u)), float(np.ptp(v)), 1.0)
        for _ in range(max(3, int(span / period) ** 2 // 2)):
            cu, cv = rng.uniform(u.min(), u.max()), rng.uniform(v.min(), v.max())
            out |= np.hypot(u - cu, v - cv) < rng.uniform(0.25, 0.5) * period
    else:
        raise ValueError(f'unknown texture {texture!r}')
    return out.astype(np.float32)


# A small shared palette: every scene draws its colours from it, so that a
# scene's colour histogram is far from unique and instance discrimination
# cannot be solved by colour alone (on natural images it mostly cannot be
# either); which colour an object gets is still independent of its class.
PALETTE = np.array([
    (220, 40, 40), (40, 160, 60), (40, 80, 210), (235, 200, 40), (150, 60, 190),
    (30, 180, 190), (240, 130, 30), (245, 245, 245), (25, 25, 25), (130, 90, 50),
    (240, 120, 170), (120, 200, 90)], dtype=np.float32)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A palette colour with a small perturbation (RGB, 0..255)."""
    return np.clip(PALETTE[rng.integers(len(PALETTE))] + rng.normal(0, 8, size=3), 0, 255)


def _contrasting_colours(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Two different palette colours, so that the texture is visible."""
    first, second = rng.choice(len(PALETTE), size=2, replace=False)
    jitter = rng.normal(0, 8, size=(2, 3))
    return (np.clip(PALETTE[first] + jitter[0], 0, 255),
            np.clip(PALETTE[second] + jitter[1], 0, 255))


def _background(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32: a low-contrast random texture plus smooth shading."""
    size = cfg.image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # Muted: palette colours pulled half-way to grey, textured at low contrast.
    base = 0.5 * _random_colour(rng) + 0.5 * 128
    other = 0.5 * _random_colour(rng) + 0.5 * 128
    other = base + (other - base) * rng.uniform(0.1, 0.3)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    texture = TEXTURES[rng.integers(len(TEXTURES))]
    weight = texture_pattern(texture, u, v, rng.uniform(6, 20) * size / 128, rng)
    image = base * (1 - weight[..., None]) + other * weight[..., None]
    gradient = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / size
    image += 30 * gradient[..., None]
    return image


def _place(cfg: SceneConfig, rng: np.random.Generator, shape: str, texture: str,
           rel_size: float, image: np.ndarray, owner: np.ndarray, owner_id: int,
           centred: bool = False) -> None:
    """Paint one textured shape over ``image`` and record it in ``owner``.

    Later shapes occlude earlier ones: ``owner`` (H, W) int holds, per pixel,
    the id of the topmost shape. ``centred``: the shape's centre within
    ``OBJECT_CENTRIC_SHIFT`` of the image's, else anywhere that keeps most of
    it inside.
    """
    size = cfg.image_size
    side = rel_size * size
    if centred:
        cx, cy = size * (0.5 + rng.uniform(-OBJECT_CENTRIC_SHIFT, OBJECT_CENTRIC_SHIFT, size=2))
    else:
        cx, cy = rng.uniform(side * 0.3, size - side * 0.3, size=2)
    # Work in the object's bounding window only (every unit shape lies in
    # radius 1, i.e. side / 2 pixels): the image-wide grid would cost O(H * W).
    half = side * 0.55
    x0, x1 = max(int(cx - half), 0), min(int(np.ceil(cx + half)), size)
    y0, y1 = max(int(cy - half), 0), min(int(np.ceil(cy + half)), size)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = (xx - cx) / (side / 2), (yy - cy) / (side / 2)
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    inside = shape_mask(shape, u, v)
    if not inside.any():
        return
    tex_angle = rng.uniform(0, np.pi)
    tu = (xx - cx) * np.cos(tex_angle) + (yy - cy) * np.sin(tex_angle)
    tv = -(xx - cx) * np.sin(tex_angle) + (yy - cy) * np.cos(tex_angle)
    period = rng.uniform(0.12, 0.25) * side
    weight = texture_pattern(texture, tu, tv, max(period, 3.0), rng)
    first, second = _contrasting_colours(rng)
    painted = first * (1 - weight[..., None]) + second * weight[..., None]
    window = image[y0:y1, x0:x1]
    window[inside] = painted[inside]
    owner[y0:y1, x0:x1][inside] = owner_id


def _rle_encode(mask: np.ndarray) -> Dict:
    """Uncompressed COCO RLE (column-major run lengths, starting with zeros)."""
    flat = np.asfortranarray(mask).reshape(-1, order='F').astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return dict(size=list(mask.shape), counts=counts)


def render_scene(cfg: SceneConfig, index: int, split: str
                 ) -> Tuple[np.ndarray, np.ndarray, List[Dict]]:
    """Render one scene.

    Returns:
        image: (H, W, 3) uint8 RGB.
        semantic: (H, W) uint8, 0 background, ``c + 1`` for class ``c``.
        instances: per visible object ``dict(category=c, mask=(H, W) bool)``,
            in painting order.
    """
    split_offset = {'train': 0, 'val': 1}.get(split, 2)
    rng = np.random.default_rng([cfg.seed, split_offset, index])
    image = _background(cfg, rng)
    owner = np.zeros((cfg.image_size, cfg.image_size), dtype=np.int32)
    # Distractors: small shapes of any family, not annotated, under and over objects.
    if cfg.object_centric:
        distractors, num_objects = 0, 1
    else:
        distractors = rng.integers(0, cfg.num_distractors + 1)
        num_objects = rng.integers(cfg.min_objects, cfg.max_objects + 1)
    order = ['d'] * distractors + ['o'] * num_objects
    rng.shuffle(order)
    categories = {}
    next_id = 1
    for kind in order:
        if kind == 'd':
            shape = SHAPES[rng.integers(len(SHAPES))]
            texture = TEXTURES[rng.integers(len(TEXTURES))]
            _place(cfg, rng, shape, texture, rng.uniform(0.06, 0.14), image, owner, -1)
            continue
        category = int(rng.integers(cfg.num_classes))
        rel_size = rng.uniform(*(OBJECT_CENTRIC_SIZE if cfg.object_centric
                                 else (cfg.min_object_size, cfg.max_object_size)))
        full = np.zeros_like(owner)
        before = owner.copy()
        _place(cfg, rng, SHAPES[category], TEXTURES[category], rel_size, image, owner, next_id,
               centred=cfg.object_centric)
        full[(owner == next_id) & (before != next_id)] = 1
        categories[next_id] = (category, int(full.sum()))
        next_id += 1
    noise = rng.normal(0, 4, size=image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)

    semantic = np.zeros(owner.shape, dtype=np.uint8)
    instances = []
    for obj_id, (category, full_area) in categories.items():
        mask = owner == obj_id
        if full_area == 0 or mask.sum() < cfg.min_visible * full_area or mask.sum() < 16:
            continue
        semantic[mask] = category + 1
        instances.append(dict(category=category, mask=mask))
    return image, semantic, instances


def _bbox_xywh(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask)
    x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


def generate(out_dir: str, cfg: SceneConfig, verbose: bool = True) -> Dict[str, int]:
    """Write the dataset under ``out_dir`` (see the module docstring).

    Returns:
        Number of images and of annotated instances per split.
    """
    categories = [dict(id=c, name=f'{SHAPES[c]}_{TEXTURES[c]}', shape=SHAPES[c],
                       texture=TEXTURES[c]) for c in range(cfg.num_classes)]
    counts = {}
    for split, num in (('train', cfg.num_train), ('val', cfg.num_val)):
        os.makedirs(osp.join(out_dir, 'images', split), exist_ok=True)
        os.makedirs(osp.join(out_dir, 'seg', split), exist_ok=True)
        os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
        images, annotations, label_lines = [], [], []
        for index in range(num):
            image, semantic, instances = render_scene(cfg, index, split)
            name = f'{index:06d}.png'
            Image.fromarray(image).save(osp.join(out_dir, 'images', split, name))
            Image.fromarray(semantic).save(osp.join(out_dir, 'seg', split, name))
            images.append(dict(id=index, file_name=name, width=cfg.image_size,
                               height=cfg.image_size))
            areas = []
            for inst in instances:
                area = int(inst['mask'].sum())
                areas.append((area, inst['category']))
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=index, category_id=inst['category'],
                    bbox=_bbox_xywh(inst['mask']), area=float(area), iscrowd=0,
                    segmentation=_rle_encode(inst['mask'])))
            # Image-level label: the largest visible object (-1 if none survived).
            label = max(areas)[1] if areas else -1
            if label >= 0:
                label_lines.append(f'images/{split}/{name} {label}')
            if verbose and (index + 1) % 100 == 0:
                print(f'[make_synthetic_scenes] {split}: {index + 1}/{num} images', flush=True)
        with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(label_lines) + '\n')
        counts[split] = len(images)
        counts[f'{split}_instances'] = len(annotations)
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(dict(generator='mmssl_ext.datasets.synthetic_scenes', config=asdict(cfg),
                       classes=[c['name'] for c in categories]), f, indent=2)
    return counts


def is_generated(out_dir: str, cfg: SceneConfig) -> bool:
    """True if ``out_dir`` holds a complete dataset made with exactly ``cfg``."""
    meta = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta):
        return False
    with open(meta) as f:
        return json.load(f).get('config') == asdict(cfg)
