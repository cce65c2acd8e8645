"""Write a COCO-format split as a PASCAL VOC tree (for mmdet's VOCDataset).

    python tools/dataset_converters/coco_to_voc.py \
        data/synthetic_scenes/annotations/instances_train.json data/synthetic_scenes/images/train \
        data/synthetic_voc/VOC2007 --split trainval

Writes ``OUT/JPEGImages/<id>.jpg`` (quality 95), ``OUT/Annotations/<id>.xml``
(boxes in VOC's 1-based inclusive pixels, ``difficult`` 0, ``iscrowd`` objects
skipped) and appends the ids to ``OUT/ImageSets/Main/<split>.txt``. Images
without objects are listed too. Files are named by image id: splits whose
ids overlap (the synthetic scenes' train and val both start at 0) go to
separate trees. The category names become VOC class names:
give mmdet the same tuple (``metainfo=dict(classes=...)``), in category order.
"""
import argparse
import os
import os.path as osp
from xml.etree import ElementTree as ET

from PIL import Image

from mmssl_ext.utils.image_listing import missing_coco_key
from mmssl_ext.utils.tool_errors import (IMAGE_FIX, InputError, read_json, require_dir,
                                         require_file, run_tool)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO instances json')
    parser.add_argument('img_dir', help='folder of the images named by file_name')
    parser.add_argument('out_dir', help='VOC year folder to write, e.g. .../VOC2007')
    parser.add_argument('--split', default='trainval', help='ImageSets/Main/<split>.txt')
    return parser.parse_args()


def _xml(image: dict, objects: list, names: dict) -> ET.ElementTree:
    root = ET.Element('annotation')
    ET.SubElement(root, 'filename').text = f'{image["id"]:06d}.jpg'
    size = ET.SubElement(root, 'size')
    for key, value in (('width', image['width']), ('height', image['height']), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    for ann in objects:
        x, y, w, h = ann['bbox']
        obj = ET.SubElement(root, 'object')
        ET.SubElement(obj, 'name').text = names[ann['category_id']]
        ET.SubElement(obj, 'difficult').text = '0'
        box = ET.SubElement(obj, 'bndbox')
        # COCO: [x, y) continuous pixels; VOC: 1-based, inclusive corners
        for key, value in (('xmin', x + 1), ('ymin', y + 1), ('xmax', x + w), ('ymax', y + h)):
            ET.SubElement(box, key).text = str(int(round(value)))
    return ET.ElementTree(root)


def _read_rgb(path: str) -> Image.Image:
    require_file(path, 'image', f'{IMAGE_FIX}; no split file is written until every image reads')
    try:
        with Image.open(path) as image:
            return image.convert('RGB')
    except (OSError, Image.DecompressionBombError) as err:  # UnidentifiedImageError, truncation
        raise InputError(path, f'cannot be read as an image ({type(err).__name__}: {err})',
                         f'{IMAGE_FIX}; no split file is written until every image reads') \
            from None


def convert(ann_file: str, img_dir: str, out_dir: str, split: str = 'trainval') -> int:
    """Convert; returns the number of images written."""
    coco = read_json(ann_file, 'COCO annotation file')
    missing = missing_coco_key(coco, ('images', 'annotations', 'categories'))
    if missing:
        raise InputError(ann_file, f'has no {missing!r}: not a COCO instances file',
                         'give a COCO instances json (images, annotations, categories)')
    require_dir(img_dir, 'image folder', 'give the folder the file_name entries are relative to')
    names = {c['id']: c['name'] for c in coco['categories']}
    by_image = {}
    for ann in coco['annotations']:
        if not ann.get('iscrowd', 0):
            by_image.setdefault(ann['image_id'], []).append(ann)
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    ids = []
    for image in coco['images']:
        stem = f'{image["id"]:06d}'
        _read_rgb(osp.join(img_dir, image['file_name'])).save(
            osp.join(out_dir, 'JPEGImages', stem + '.jpg'), quality=95)
        _xml(image, by_image.get(image['id'], []), names).write(
            osp.join(out_dir, 'Annotations', stem + '.xml'))
        ids.append(stem)
    with open(osp.join(out_dir, 'ImageSets', 'Main', f'{split}.txt'), 'a') as f:
        f.writelines(i + '\n' for i in ids)
    return len(ids)


def main() -> None:
    args = parse_args()
    n = convert(args.ann_file, args.img_dir, args.out_dir, args.split)
    print(f'{args.out_dir}: {n} images in ImageSets/Main/{args.split}.txt')


if __name__ == '__main__':
    run_tool(main)
