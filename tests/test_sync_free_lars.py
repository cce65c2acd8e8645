"""SyncFreeLARS: mmpretrain's LARS update, with no host read per layer."""
import copy

import pytest
import torch
from mmpretrain.engine.optimizers import LARS
from torch import nn

from mmssl_ext.engine.optimizers import SyncFreeLARS

from .test_host_syncs import record_host_reads


def _groups(model, nesterov):
    conv, bn = model[0], model[1]
    kwargs = dict(lr=0.5, momentum=0.9, weight_decay=1e-4, eta=1e-3, nesterov=nesterov)
    return [dict(params=[conv.weight]), dict(params=[bn.weight, bn.bias], lars_exclude=True,
                                             weight_decay=0.)], kwargs


@pytest.mark.parametrize('nesterov', [False, True])
def test_the_same_parameters_as_mmpretrains_lars_step_after_step(nesterov):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    theirs_model = copy.deepcopy(model)
    groups, kwargs = _groups(model, nesterov)
    ours = SyncFreeLARS(groups, **kwargs)
    theirs = LARS(_groups(theirs_model, nesterov)[0], **kwargs)
    for step in range(5):
        x = torch.randn(2, 3, 6, 6)
        for m, opt in ((model, ours), (theirs_model, theirs)):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
        if step == 2:  # a zero gradient: the trust ratio is 1 there, as in mmpretrain's
            model[0].weight.grad.zero_()
            theirs_model[0].weight.grad.zero_()
        ours.step()
        theirs.step()
        for a, b in zip(model.parameters(), theirs_model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert ours.state_dict()['state'].keys() == theirs.state_dict()['state'].keys()


def test_a_step_reads_nothing_on_the_host():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    groups, kwargs = _groups(model, False)
    optimizer = SyncFreeLARS(groups, **kwargs)
    model(torch.randn(2, 3, 6, 6)).sum().backward()
    with record_host_reads() as calls:
        optimizer.step()
    assert calls == []
