"""One loss convention: every algorithm of ours builds its loss from
``loss=dict(type=...)`` (the temperature inside the loss module) into
``criterion``; only ccMIM, whose reconstruction loss is mmpretrain's head's,
takes a ``head``."""
import inspect
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_ext.models.algorithms import CCMIM, DINO, NNCLR, DetConB, DetConS, LooC, MaskCo
from mmssl_ext.registry import MODELS

from .conftest import OUR_SYNTHETIC_CONFIGS, REPO_ROOT

ALGORITHMS = [MaskCo, LooC, DetConS, DetConB, CCMIM, NNCLR, DINO]


@pytest.mark.parametrize('cls', ALGORITHMS, ids=lambda c: c.__name__)
def test_every_algorithm_takes_a_loss_config_and_no_unused_head(cls):
    parameters = inspect.signature(cls.__init__).parameters
    assert 'loss' in parameters and 'temperature' not in parameters
    assert ('head' in parameters) == (cls is CCMIM)
    default = parameters['loss'].default
    assert default is inspect.Parameter.empty or 'type' in default


@pytest.mark.parametrize('config', OUR_SYNTHETIC_CONFIGS, ids=lambda c: c.split('/')[0])
def test_the_built_criterion_is_the_configured_loss(config):
    from mmssl_ext.analysis.benchmark import cpu_norms
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cpu_norms(cfg.model)
    model = MODELS.build(cfg.model)
    if type(model) not in ALGORITHMS:  # DiLo: mmpretrain's MoCo, its loss in its head
        assert model.head.temperature == cfg.model.head.temperature
        return
    assert isinstance(model.criterion, torch.nn.Module)
    assert type(model.criterion).__name__ == cfg.model.loss.type
    if 'temperature' in cfg.model.loss:
        assert model.criterion.temperature == cfg.model.loss.temperature
