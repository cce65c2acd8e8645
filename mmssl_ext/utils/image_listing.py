"""The two image listings our datasets and tools read, each read in one place:
the top-level lists of a COCO json, and the first field of each line of a
list file. The callers raise their own kind of error (a dataset a
``ValueError`` for the Runner, a tool an ``InputError`` that names the fix)."""
import json
from typing import Any, Iterable, List, Optional, Sequence


def missing_coco_key(coco: Any, keys: Sequence[str] = ('images', )) -> Optional[str]:
    """The first of ``keys`` that the parsed json ``coco`` lacks (``keys[0]``
    when it is no JSON object at all), or None when it has them all.

    ``('images', )`` is what an image-info file (unlabeled2017) holds;
    ``('images', 'annotations', 'categories')`` an instances file.
    """
    if not isinstance(coco, dict):
        return keys[0]
    return next((key for key in keys if key not in coco), None)


def read_coco(ann_file: str, keys: Sequence[str], needed_by: str) -> dict:
    """The parsed COCO json ``ann_file``; a ``ValueError`` naming the file, the
    first of ``keys`` it lacks and ``needed_by`` (what reads it, why) when it
    does not have them all."""
    with open(ann_file) as f:
        coco = json.load(f)
    missing = missing_coco_key(coco, keys)
    if missing:
        raise ValueError(f'{ann_file!r} has no {missing!r}: {needed_by}')
    return coco


def first_fields(lines: Iterable[str]) -> List[str]:
    """The first field of each line of a list file (split on a tab, else on
    white space: Conceptual Captions' TSV and plain lists alike); blank lines
    and lines starting with ``#`` are skipped."""
    fields = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith('#'):
            fields.append(line.split('\t', 1)[0] if '\t' in line else line.split(None, 1)[0])
    return fields
