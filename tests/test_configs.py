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
