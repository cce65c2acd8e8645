"""CosineMomentumEMA: mmpretrain's CosineEMA values, without host reads."""
import pytest
import torch
from mmengine.logging import MessageHub
from torch import nn

from mmssl_ext.models.utils import CosineMomentumEMA

from .test_host_syncs import record_host_reads


def _online():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))


def _train_a_little(online, ema, steps, start=0):
    for step in range(start, start + steps):
        with torch.no_grad():
            for p in online.parameters():
                p.add_(torch.randn_like(p) * 0.1)
            online[1].running_mean.add_(0.5)  # a buffer: copied, not averaged
        ema.update_parameters(online)


@pytest.mark.parametrize('max_iters', [10, None])
def test_the_same_averages_as_mmpretrains_cosine_ema(max_iters):
    from mmpretrain.models.utils import CosineEMA
    hub = MessageHub.get_current_instance()
    saved = hub.get_info('max_iters')
    hub.update_info('max_iters', max_iters)
    try:
        online = _online()
        ours = CosineMomentumEMA(online, momentum=0.1, end_momentum=0.01)
        if max_iters is None:  # mmpretrain's needs max_iters: plain mmengine EMA then
            from mmengine.model import ExponentialMovingAverage
            theirs = ExponentialMovingAverage(online, momentum=0.1)
        else:
            theirs = CosineEMA(online, momentum=0.1, end_momentum=0.01)
        torch.manual_seed(1)
        for step in range(8):
            with torch.no_grad():
                for p in online.parameters():
                    p.add_(torch.randn_like(p) * 0.1)
                online[1].running_mean.add_(0.5)
            ours.update_parameters(online)
            theirs.update_parameters(online)
            for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=f'{name} at {step}')
        assert list(ours.state_dict()) == list(theirs.state_dict())  # checkpoints interchange
        # The schedule by hand: m_t = end - (end - m0) (cos(pi t / T) + 1) / 2.
        if max_iters:
            assert ours.momentum_at(0) == pytest.approx(0.1)
            assert ours.momentum_at(5) == pytest.approx(0.055)
            assert ours.momentum_at(10) == pytest.approx(0.01)
    finally:
        hub.update_info('max_iters', saved)


def test_no_host_read_per_step_and_one_after_a_load():
    online = _online()
    ema = CosineMomentumEMA(online, momentum=0.1)
    _train_a_little(online, ema, 2)
    with record_host_reads() as calls:
        _train_a_little(online, ema, 3, start=2)
    assert calls == []
    assert int(ema.steps) == 5
    # A loaded checkpoint sets the count: read once, then counted on the host.
    other = CosineMomentumEMA(_online(), momentum=0.1)
    other.load_state_dict(ema.state_dict())
    with record_host_reads() as calls:
        _train_a_little(online, other, 2, start=5)
    assert [c[0] for c in calls] == ['__int__'] and int(other.steps) == 7
    # A buffer put back from outside (NonFiniteGuardHook) is overwritten by
    # the host's count at the next update.
    other.steps.fill_(3)
    _train_a_little(online, other, 1, start=7)
    assert int(other.steps) == 8


def test_a_copy_of_named_submodules_follows_them_as_an_update_of_their_module_dict():
    """``of_submodules`` / ``follow`` (what the algorithms use) against the
    plain API on an equal ModuleDict: the same state-dict keys and values."""
    from torch import nn

    from mmssl_ext.models.utils import MomentumEMA

    class Owner(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.neck, self.head = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(2, 1)

    torch.manual_seed(0)
    owner = Owner()
    ours = MomentumEMA.of_submodules(owner, ('backbone', 'neck'), momentum=0.25)
    plain = MomentumEMA(nn.ModuleDict(dict(backbone=owner.backbone, neck=owner.neck)),
                        momentum=0.25)
    assert list(ours.state_dict()) == list(plain.state_dict())
    assert [k for k in ours.state_dict() if k.startswith('module.')] == [
        'module.backbone.weight', 'module.backbone.bias', 'module.neck.weight',
        'module.neck.bias']
    for _ in range(3):
        with torch.no_grad():
            for p in owner.parameters():
                p.add_(torch.randn_like(p))
        ours.follow(owner)
        plain.update_parameters(nn.ModuleDict(dict(backbone=owner.backbone, neck=owner.neck)))
    for (name, a), (_, b) in zip(ours.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), name
    assert not torch.equal(ours.module.neck.weight, owner.neck.weight)  # averaged, not copied
