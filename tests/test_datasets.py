"""Unlabeled datasets: COCO annotation file, list file, image folder."""
import json
import os.path as osp

import pytest
from mmengine.registry import init_default_scope

from mmssl_ext.datasets import COCOImageDataset, ImageListDataset
from mmssl_ext.registry import DATASETS


def test_coco_dataset_lists_every_image(synthetic_root):
    ds = COCOImageDataset(data_root=synthetic_root, ann_file='annotations/instances_train.json',
                          data_prefix=dict(img_path='images/train/'))
    with open(osp.join(synthetic_root, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    assert len(ds) == len(coco['images']) == 24
    item = ds.get_data_info(3)
    assert item['img_path'] == osp.join(synthetic_root, 'images/train', '000003.png')
    assert osp.isfile(item['img_path']) and item['width'] == 64


def test_coco_dataset_min_size_filter(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(images=[
        dict(id=1, file_name='a.jpg', width=640, height=480),
        dict(id=2, file_name='b.jpg', width=20, height=480)])))
    ds = COCOImageDataset(ann_file=str(ann), min_size=32)
    assert len(ds) == 1
    assert ds.get_data_info(0)['img_id'] == 1


def test_coco_dataset_errors_are_actionable(tmp_path):
    with pytest.raises(FileNotFoundError, match='make_synthetic_scenes'):
        COCOImageDataset(data_root=str(tmp_path), ann_file='missing.json')
    bad = tmp_path / 'bad.json'
    bad.write_text('{"annotations": []}')
    with pytest.raises(ValueError, match='no "images" list'):
        COCOImageDataset(ann_file=str(bad))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [')
    with pytest.raises(ValueError, match='not valid JSON'):
        COCOImageDataset(ann_file=str(broken))


def test_list_dataset_takes_first_field(tmp_path):
    lst = tmp_path / 'list.txt'
    lst.write_text('# comment\nimg/a.jpg\tA caption with spaces\n\nimg/b.jpg\nimg/c.jpg 12\n')
    ds = ImageListDataset(ann_file=str(lst), data_prefix=dict(img_path='/data/cc'))
    assert [d['img_path'] for d in ds] == ['/data/cc/img/a.jpg', '/data/cc/img/b.jpg',
                                           '/data/cc/img/c.jpg']
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n# nothing\n')
    with pytest.raises(ValueError, match='names no image'):
        ImageListDataset(ann_file=str(empty))


def test_folder_dataset_through_mmpretrain(synthetic_root):
    init_default_scope('mmssl_ext')
    ds = DATASETS.build(dict(type='CustomDataset', with_label=False, data_root=synthetic_root,
                             data_prefix=dict(img_path='images/val/')))
    assert len(ds) == 12
    assert ds.get_data_info(0)['img_path'].endswith('.png')


def test_pipeline_yields_two_views(synthetic_root):
    from mmengine.config import Config

    from .conftest import SMALL_CONFIG
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(SMALL_CONFIG)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = synthetic_root
    ds = DATASETS.build(dataset_cfg)
    sample = ds[0]
    views = sample['inputs']
    assert len(views) == 2 and tuple(views[0].shape) == (3, 64, 64)
