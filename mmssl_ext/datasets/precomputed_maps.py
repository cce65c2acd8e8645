"""Where per-image maps computed ahead of training (FH masks, saliency maps)
are stored: the image tree mirrored under an output folder. The tools that
write them (``tools/dataset_converters/``) and the transforms that read them
(``LoadFHMasks``, ``DiLoCopyPaste``) share this one rule."""
import os.path as osp


def mirrored_path(out_dir: str, img_dir: str, img_path: str, suffix: str = '.png') -> str:
    """``<out_dir>/<image path relative to img_dir, with suffix>``.

    Raises ``ValueError`` when ``img_path`` is not under ``img_dir``: its map
    would land outside ``out_dir``.
    """
    rel = osp.relpath(img_path, img_dir)
    if rel.startswith('..'):
        raise ValueError(f'image {img_path!r} is not under img_dir {img_dir!r}')
    return osp.join(out_dir, osp.splitext(rel)[0] + suffix)
