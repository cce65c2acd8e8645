"""Every config parses, builds its model, and has a file name unique in the package."""
import collections
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
ALL_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
TOP_CONFIGS = [c for c in ALL_CONFIGS if '_base_' not in c.split(osp.sep)]


def test_config_file_names_are_unique():
    # `mim train mmssl_ext NAME` finds a config by its file name alone.
    names = collections.Counter(osp.basename(c) for c in TOP_CONFIGS)
    clashes = {name: n for name, n in names.items() if n > 1}
    assert not clashes, f'config names used more than once: {clashes}'
    assert len(TOP_CONFIGS) >= 4


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_config_parses_and_builds_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmssl_ext'
    assert cfg.train_dataloader.dataset.type
    init_default_scope('mmssl_ext')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    # The pretrained encoder must be reachable as backbone.* for downstream loading.
    assert hasattr(model, 'backbone')


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_config_train_pipeline_builds(path):
    # Catches misspelt transform arguments, which only surface when data loads.
    from mmssl_ext.registry import TRANSFORMS
    cfg = Config.fromfile(path)
    init_default_scope('mmssl_ext')
    for step in cfg.train_dataloader.dataset.pipeline:
        assert TRANSFORMS.build(step) is not None


def test_every_config_is_in_a_metafile_of_the_model_index():
    import yaml
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    listed = set()
    for metafile in metafiles:
        with open(osp.join(REPO_ROOT, metafile)) as f:
            for model in yaml.safe_load(f)['Models']:
                assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), model['Config']
                listed.add(osp.normpath(model['Config']))
    unlisted = {osp.relpath(c, REPO_ROOT) for c in TOP_CONFIGS} - listed
    assert not unlisted, f'configs missing from the metafiles: {sorted(unlisted)}'
