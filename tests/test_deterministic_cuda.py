"""DeterministicCUDAHook: exact deterministic pools, and refusals that name the op."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmssl_ext.engine.hooks.deterministic_cuda import (DeterministicCUDAHook, GlobalAvgPool2d,
                                                       nondeterministic_cuda_ops,
                                                       use_deterministic_pooling)

from .conftest import REPO_ROOT


def test_the_mean_pool_has_the_adaptive_pools_values_and_gradients():
    x = torch.randn(3, 5, 7, 6, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    out, ref = GlobalAvgPool2d()(x), nn.AdaptiveAvgPool2d((1, 1))(y)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(ref)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, y.grad)


def _model(config):
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    return MODELS.build(cfg.model)


# What the docs' "Determinism on CUDA" table says, config by config.
EXPECTED = {
    'mocov2/mocov2_r18_1xb32-600i_synthetic.py': [],
    'looc/looc_r18_1xb32-600i_synthetic.py': [],
    'nnclr/nnclr_r18_1xb32-600i_synthetic.py': [],
    'dilo/dilo-mocov2_r18_1xb32-600i_synthetic.py': [],
    'detcon/detcon-b_r18_1xb32-600i_synthetic.py': [],
    'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py': [],
    'dino/dino_r18_1xb32-600i_synthetic.py': [],
    'dino/dino_vit-small-p16_8xb64-coslr-100e_in1k.py': ['upsample_bicubic2d'],
    'maskco/maskco_r18_1xb32-600i_synthetic.py': ['roi_align'],
}


@pytest.mark.parametrize('config', sorted(EXPECTED), ids=lambda c: osp.basename(c)[:-3])
def test_which_configs_can_run_deterministically_on_cuda(config):
    model = _model(config)
    pools = sum(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules())
    assert use_deterministic_pooling(model) == pools
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules())
    ops = nondeterministic_cuda_ops(model)
    assert [next(k for k in ('roi_align', 'upsample_bicubic2d') if k in op)
            for op in ops] == EXPECTED[config], ops


def _runner(model):
    return SimpleNamespace(model=model)


def test_the_hook_swaps_the_pools_and_refuses_on_cuda_naming_the_op(monkeypatch):
    model = _model('maskco/maskco_r18_1xb32-600i_synthetic.py')
    hook = DeterministicCUDAHook()
    hook.before_train(_runner(model))  # deterministic mode off: nothing happens
    assert not any(isinstance(m, GlobalAvgPool2d) for m in model.modules())
    monkeypatch.setattr(torch, 'are_deterministic_algorithms_enabled', lambda: True)
    monkeypatch.setattr(torch, 'is_deterministic_algorithms_warn_only_enabled', lambda: False)
    hook.before_train(_runner(model))  # on the CPU: nothing to refuse
    # As if on a GPU (a CPU cannot run the CUDA kernels).
    monkeypatch.setattr(torch.Tensor, 'is_cuda', property(lambda self: True))
    with pytest.raises(RuntimeError, match=r'MaskCo uses ops without a deterministic CUDA '
                       r'backward: torchvision.ops.roi_align backward.*'
                       r'randomness.deterministic=False'):
        hook.before_train(_runner(model))
    mocov2 = _model('mocov2/mocov2_r18_1xb32-600i_synthetic.py')
    hook.before_train(_runner(mocov2))  # made deterministic: no refusal
    assert any(isinstance(m, GlobalAvgPool2d) for m in mocov2.modules())


def test_a_deterministic_cpu_run_trains(tmp_path, small_run_options):
    """The hook in a real run with randomness.deterministic=True (CPU)."""
    from mmengine.runner import Runner

    from .conftest import SMALL_CONFIG, config_with_options
    cfg = config_with_options(SMALL_CONFIG, small_run_options + [
        'train_cfg.max_iters=2', 'randomness.seed=0', 'randomness.deterministic=True'], tmp_path)
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
    finally:
        torch.use_deterministic_algorithms(False)
    assert any(type(h).__name__ == 'DeterministicCUDAHook' for h in runner.hooks)
    assert any(isinstance(m, GlobalAvgPool2d) for m in runner.model.modules())
