"""Every full-size config against its method's recipe record (paper / official code).

A record lists the source's value of each hyperparameter with its source; a
deliberate difference is an entry with ``config_value`` and ``deviation``.
Anything else that differs fails here, with the entry's source in the message.
"""
import copy
import os.path as osp

import pytest
from mmengine.config import Config

from mmssl_ext.utils.recipe import (MISSING, RecipeError, check_config, check_record, entries_for,
                                    find_recipes, record_name, render_markdown, resolve_key,
                                    splice_markdown, values_equal)

from .conftest import REPO_ROOT
from .test_configs import PRETRAIN_CONFIGS

RECIPES = find_recipes(REPO_ROOT)
FULL_SIZE = sorted(osp.relpath(c, REPO_ROOT) for c in PRETRAIN_CONFIGS
                   if not c.endswith('_synthetic.py'))


def _record_of(config):
    return [path for path, record in RECIPES.items()
            if config in record['configs'] or config in record['synthetic_configs']]


@pytest.mark.parametrize('config', FULL_SIZE)
def test_every_full_size_config_has_exactly_one_record(config):
    assert len(_record_of(config)) == 1, (
        f'{config} is in {_record_of(config) or "no"} recipe record(s): add it to its '
        "method's configs/<method>/recipe*.yml")


def test_records_name_only_existing_configs():
    for path, record in RECIPES.items():
        for config in list(record['configs']) + record['synthetic_configs']:
            assert osp.isfile(osp.join(REPO_ROOT, config)), f'{path}: {config} does not exist'


@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_configs_match_their_record(recipe):
    findings = check_record(RECIPES[recipe], REPO_ROOT)
    assert findings
    bad = [f'{osp.basename(f.config)}: {f.name} ({f.key}) is '
           f'{"absent" if f.actual is MISSING else repr(f.actual)}, the record says '
           f'{f.expected!r} [{f.source}]' for f in findings if not f.ok]
    assert not bad, '\n'.join(bad)


@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_doc_page_shows_the_record(recipe):
    record = RECIPES[recipe]
    with open(osp.join(REPO_ROOT, record['doc'])) as f:
        doc = f.read()
    assert splice_markdown(doc, record_name(recipe), render_markdown(record)) == doc, (
        f'{record["doc"]} is out of date: run python tools/misc/check_recipes.py --write-docs')


# The checker itself, on a hand-made config.
CFG = dict(
    train_dataloader=dict(batch_size=32, dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[[
            dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0)),
            dict(type='ColorJitter', brightness=0.4),
            dict(type='ColorJitter', brightness=0.8)]])])),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.06)),
    param_scheduler=[dict(type='LinearLR', end=10), dict(type='CosineAnnealingLR', T_max=90)])
NAME = 'configs/x/x_r50_16xb32-90e_coco.py'


def test_resolve_key_paths_indices_and_types():
    cfg = Config(copy.deepcopy(CFG))
    assert resolve_key(cfg, 'optim_wrapper.optimizer.lr') == 0.06
    assert resolve_key(cfg, 'param_scheduler[1].T_max') == 90
    assert resolve_key(cfg, 'param_scheduler[type=LinearLR].end') == 10
    assert resolve_key(cfg, 'pipeline[type=ColorJitter#1].brightness') == 0.8
    assert resolve_key(cfg, 'pipeline[type=RandomResizedCrop].crop_ratio_range') == (0.2, 1.0)
    assert resolve_key(cfg, '@global_batch', NAME) == 512
    assert resolve_key(cfg, 'pipeline[type=ColorJitter#2].brightness') is MISSING
    assert resolve_key(cfg, 'optim_wrapper.clip_grad') is MISSING
    with pytest.raises(RecipeError, match='per GPU'):
        resolve_key(cfg, '@global_batch', 'configs/x/x_r50_16xb64-90e_coco.py')


def test_values_equal():
    assert values_equal(0.1, 0.1 + 1e-9) and not values_equal(0.1, 0.11)
    assert values_equal([0.2, 1], (0.2, 1.0)) and not values_equal([0.2, 1], [0.2])
    assert values_equal(None, MISSING) and not values_equal(0, MISSING)
    assert not values_equal(True, 1) and values_equal('SGD', 'SGD')


def test_check_config_scales_lr_with_the_global_batch_and_flags_a_wrong_value():
    entries = [dict(name='lr', key='optim_wrapper.optimizer.lr', value=0.03, per_batch=256,
                    source='s'),
               dict(name='warm-up', key='param_scheduler[type=LinearLR].end', value=10,
                    source='s', semantic=True)]
    cfg = Config(copy.deepcopy(CFG))
    # 16 x 32 = 512 images: 0.03 per 256 is 0.06.
    assert all(f.ok for f in check_config(cfg, NAME, entries))
    cfg.optim_wrapper.optimizer.lr = 0.03
    cfg.param_scheduler[0].end = 5
    findings = check_config(cfg, NAME, entries)
    assert [f.ok for f in findings] == [False, False]
    assert findings[0].expected == pytest.approx(0.06) and findings[0].actual == 0.03
    # A CPU config: only the semantic entry, and its lr is its own.
    assert [f.name for f in check_config(cfg, NAME, entries, semantic_only=True)] == ['warm-up']


def test_deviation_overrides_and_skips():
    record = dict(method='X', paper='p', code='c', doc='d', synthetic_configs=[],
                  configs={'a.py': {}, 'b.py': {'wd': {'value': 0.5, 'source': 'T4'},
                                                'lr': {'skip': 'no lr here'}}},
                  entries=[dict(name='wd', key='k.wd', value=1.0, config_value=2.0,
                                deviation='on purpose', source='S'),
                           dict(name='lr', key='k.lr', value=0.1, source='S')])
    cfg = Config(dict(k=dict(wd=2.0, lr=0.1)))
    assert all(f.ok for f in check_config(cfg, 'a.py', entries_for(record, 'a.py')))
    # b.py's override replaces the value and drops the base entry's deviation.
    b = check_config(cfg, 'b.py', entries_for(record, 'b.py'))
    assert [(f.ok, f.expected, f.deviation) for f in b][0] == (False, 0.5, None)
    assert b[1].skipped == 'no lr here'
    text = render_markdown(record)
    assert '**wd**: `2.0` instead of `1.0`. on purpose' in text
    assert '| `b.py` | wd | `0.5` | same | T4 |' in text
