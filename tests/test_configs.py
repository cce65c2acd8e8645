"""Every config parses, builds its model, and has a file name unique in the package."""
import collections
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext.analysis.benchmark import pretraining_configs
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
ALL_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
TOP_CONFIGS = [c for c in ALL_CONFIGS if '_base_' not in c.split(osp.sep)]
# Downstream evaluations (configs/benchmarks/): mmdet/mmseg/mmpretrain configs.
BENCHMARK_CONFIGS = [c for c in TOP_CONFIGS if 'benchmarks' in c.split(osp.sep)]
PRETRAIN_CONFIGS = pretraining_configs(CONFIG_DIR)  # the rest, as the tools list them


def test_pretraining_configs_are_the_top_configs_but_the_downstream_ones():
    assert PRETRAIN_CONFIGS == [c for c in TOP_CONFIGS if c not in BENCHMARK_CONFIGS]
    assert not any('_base_' in c or 'benchmarks' in c for c in PRETRAIN_CONFIGS)


def test_config_file_names_are_unique():
    # `mim train mmssl_ext NAME` finds a config by its file name alone.
    names = collections.Counter(osp.basename(c) for c in TOP_CONFIGS)
    clashes = {name: n for name, n in names.items() if n > 1}
    assert not clashes, f'config names used more than once: {clashes}'
    assert len(TOP_CONFIGS) >= 4


# {algo}_{backbone}_{gpus}xb{batch}-{options-}{schedule}_{data}.py, the schedule
# a count of epochs (e), thousands of iterations (k) or iterations (i).
PRETRAIN_NAME = re.compile(
    r'^[a-z0-9.-]+_[a-z0-9.-]+_\d+xb\d+-(?:[a-z0-9.]+-)*\d+[eki]_[a-z0-9-]+\.py$')
# The mission's name, kept as given: the short name of the 500k COCO recipe.
MISSION_CONFIG = 'r50_8xb32_coco.py'


def test_pretraining_config_names_carry_their_schedule():
    names = [osp.basename(c) for c in PRETRAIN_CONFIGS]
    assert MISSION_CONFIG in names
    wrong = [n for n in names if n != MISSION_CONFIG and not PRETRAIN_NAME.match(n)]
    assert not wrong, f'not {{algo}}_{{backbone}}_{{gpus}}xb{{batch}}-{{schedule}}_{{data}}.py: ' \
        f'{wrong}'
    # The rule itself, on names it must refuse:
    for bad in ('mocov2_r50_8xb32_coco.py', 'maskco_r50_8xb32-coslr_coco.py',
                'detcon_r50_16xb256-1296e.py'):
        assert not PRETRAIN_NAME.match(bad), bad
    mission = Config.fromfile(osp.join(CONFIG_DIR, 'maskco', MISSION_CONFIG))
    assert mission.train_cfg.max_iters == 500000  # the 500k recipe it names


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_config_parses_and_builds_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmssl_ext'
    assert cfg.train_dataloader.dataset.type
    init_default_scope('mmssl_ext')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    # The pretrained encoder must be reachable as backbone.* for downstream loading.
    assert hasattr(model, 'backbone')


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
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
    unlisted = {osp.relpath(c, REPO_ROOT) for c in PRETRAIN_CONFIGS} - listed
    assert not unlisted, f'configs missing from the metafiles: {sorted(unlisted)}'


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_benchmark_config_builds_in_its_library_with_the_checked_backbone_init(path):
    import importlib

    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
    cfg = Config.fromfile(path)
    assert cfg.default_scope in ('mmdet', 'mmseg', 'mmpretrain')
    for module in cfg.custom_imports['imports']:
        importlib.import_module(module)
    assert 'mmssl_ext.models' in cfg.custom_imports['imports']
    # The pretrained weights come from one place, checked.
    # mmssl_ext's checked initializer: as 'Pretrained' in our scope (applied
    # after the submodules' own init), or by its own name for backbones with
    # a 'Pretrained' loader of their own (mmseg's MAE).
    init_cfgs = [m.init_cfg for m in _walk_dicts(cfg.model)
                 if isinstance(m.get('init_cfg'), dict)
                 and ((m.init_cfg.get('type') == 'Pretrained'
                       and m.init_cfg.get('_scope_') == 'mmssl_ext')
                      or m.init_cfg.get('type') == 'mmssl_ext.PretrainedBackbone')]
    assert init_cfgs and all(c.checkpoint is None for c in init_cfgs)
    init_default_scope(cfg.default_scope)
    model = ROOT_MODELS.build(cfg.model)
    assert hasattr(model, 'backbone')
    from mmengine.optim import build_optim_wrapper
    optim_cfg = dict(cfg.optim_wrapper)
    if optim_cfg.get('type') == 'AmpOptimWrapper':  # needs a GPU; the constructor is tested
        optim_cfg.update(type='OptimWrapper')
        optim_cfg.pop('loss_scale', None)
    assert build_optim_wrapper(model, optim_cfg) is not None
    for step in cfg.train_dataloader.dataset.get('pipeline', []):
        assert ROOT_TRANSFORMS.build(step) is not None


def _walk_dicts(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk_dicts(value)
