"""What the per-image precompute tools share (FH masks, saliency maps): the
image list of a COCO file, a list file or a folder; atomic PNG writes; a
parallel, resumable run that lists unreadable images instead of stopping."""
import json
import os
import os.path as osp
import time
from multiprocessing import Pool
from typing import Callable, Iterable, List, Optional, Tuple

import cv2
import numpy as np
from mmengine.fileio import list_from_file
from mmengine.utils import ProgressBar

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(img_dir: str, ann_file: Optional[str] = None,
                list_file: Optional[str] = None) -> List[str]:
    """Absolute image paths, in a stable order: the ``file_name`` of a COCO
    file's images, the first field of each line of a list file (relative to
    ``img_dir``), or every image below ``img_dir``.

    Raises ``InputError`` (one line naming the file and the fix) when
    ``img_dir`` is no folder, the listing is unreadable, or no image is named.
    """
    from .image_listing import first_fields, missing_coco_key
    from .tool_errors import InputError, read_json, require_dir
    require_dir(img_dir, 'image folder', 'give the folder of the images (the --ann-file '
                'or --list-file names are relative to it)')
    if ann_file:
        coco = read_json(ann_file, 'COCO annotation file')
        if missing_coco_key(coco):
            raise InputError(ann_file, "has no 'images' list: not a COCO annotation file",
                             'give a COCO instances json (e.g. instances_train2017.json)')
        names = [img['file_name'] for img in coco['images']]
    elif list_file:
        names = first_fields(list_from_file(list_file))
    else:
        names = sorted(
            osp.relpath(osp.join(root, name), img_dir)
            for root, _, files in os.walk(img_dir) for name in files
            if name.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise InputError(img_dir, 'the listing names no images' if ann_file or list_file
                         else 'holds no images (.jpg, .png, ...)',
                         'give the image folder, or an --ann-file/--list-file that lists images')
    return [osp.join(img_dir, n) for n in names]


def write_png_atomically(path: str, array: np.ndarray) -> None:
    """Write a PNG so that a killed run never leaves a half-written file."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp.png'  # the extension picks cv2's encoder
    if not cv2.imwrite(tmp, array):
        raise OSError(f'cannot write {tmp}')
    os.replace(tmp, path)


def run_per_image(worker: Callable[[tuple], Tuple[str, str, int]], tasks: Iterable[tuple],
                  num_tasks: int, nproc: int, out_dir: str) -> Tuple[dict, int]:
    """Run ``worker`` over ``tasks`` in ``nproc`` processes with a progress bar.

    ``worker(task)`` returns ``(image, status, count)`` with status 'done',
    'skipped' or 'failed: why'. Failed images are listed in
    ``out_dir/failed.txt`` (removed when a rerun has none).

    Returns:
        ``({'done': n, 'skipped': n, 'failed': n, 'seconds': s}, max count)``.
    """
    counts = dict(done=0, skipped=0)
    failed, max_count = [], 0
    start = time.time()
    progress = ProgressBar(num_tasks)
    with Pool(nproc) as pool:
        for img, status, count in pool.imap_unordered(worker, tasks, chunksize=4):
            if status.startswith('failed'):
                failed.append(f'{img}\t{status[len("failed: "):]}')
            else:
                counts[status] += 1
            max_count = max(max_count, count)
            progress.update()
    counts.update(failed=len(failed), seconds=time.time() - start)
    failed_file = osp.join(out_dir, 'failed.txt')
    if failed:
        with open(failed_file, 'w') as f:
            f.write('\n'.join(failed) + '\n')
    elif osp.isfile(failed_file):
        os.remove(failed_file)
    return counts, max_count


def report(counts: dict, nproc: int, out_dir: str, detail: str = '') -> int:
    """Print the summary of :func:`run_per_image`; the exit status (1 when
    some images could not be read)."""
    rate = counts['done'] / counts['seconds'] if counts['seconds'] > 0 else float('inf')
    print(f'\n{counts["done"]} images done ({rate:.1f} images/s, '
          f'{rate / max(nproc, 1):.2f} per process), {counts["skipped"]} already there, '
          f'{counts["failed"]} failed{detail}')
    if counts['failed']:
        print(f'unreadable images listed in {osp.join(out_dir, "failed.txt")}; fix or '
              'remove them and rerun')
        return 1
    return 0


def write_params_once(path: str, params: dict, keys: Tuple[str, ...]) -> None:
    """Record the parameters in ``path``; refuse an output directory made with
    other values of ``keys`` (outputs of two settings must not mix)."""
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
        if any(old.get(k) != params[k] for k in keys):
            raise SystemExit(f'{osp.dirname(path)} holds outputs made with other parameters '
                             f'({ {k: old.get(k) for k in keys} }); use another out_dir')
        return
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(params, f, indent=2)
    os.replace(tmp, path)
