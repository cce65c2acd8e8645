"""The one reader of each image listing (mmssl_ext.utils.image_listing) and
its callers: the datasets, the precompute tools, COCO->VOC and the probe."""
import json

import pytest

from mmssl_ext.utils.image_listing import first_fields, missing_coco_key


def test_first_fields_of_tsv_plain_and_commented_lines():
    lines = ['a/1.jpg\ta caption with spaces\n', '  b/2.png  http://x  \n', '\n', '# c.jpg\n',
             'c 3.jpg\n']
    assert first_fields(lines) == ['a/1.jpg', 'b/2.png', 'c']


@pytest.mark.parametrize('coco, keys, expected', [
    ({'images': []}, ('images', ), None),
    ({'annotations': []}, ('images', ), 'images'),
    ([{'images': []}], ('images', ), 'images'),  # a JSON list: no COCO file
    ({'images': [], 'categories': []}, ('images', 'annotations', 'categories'), 'annotations'),
])
def test_missing_coco_key(coco, keys, expected):
    assert missing_coco_key(coco, keys) == expected


def test_the_datasets_and_the_tools_read_a_list_file_alike(tmp_path):
    from mmssl_ext.datasets import ImageListDataset
    from mmssl_ext.utils.precompute import list_images
    (tmp_path / 'x.jpg').write_bytes(b'')
    (tmp_path / 'y.jpg').write_bytes(b'')
    listing = tmp_path / 'list.tsv'
    listing.write_text('x.jpg\tcaption\n# y.jpg\ny.jpg http://url\n')
    dataset = ImageListDataset(str(listing), data_prefix=dict(img_path=str(tmp_path) + '/'),
                               serialize_data=False)
    assert [d['img_path'] for d in dataset.data_list] == list_images(
        str(tmp_path), list_file=str(listing))


def test_the_probe_names_a_file_without_annotations(tmp_path):
    from mmssl_ext.evaluation import load_object_crops
    info = tmp_path / 'image_info.json'
    info.write_text(json.dumps(dict(images=[dict(id=0, file_name='a.png')])))
    with pytest.raises(ValueError, match="has no 'annotations'"):
        load_object_crops(str(info), str(tmp_path))
