"""DeterministicCUDAHook: cuBLAS's workspace fixed, and refusals that name the op.

The CUDA kernels cannot run here; what is tested is the torch and torchvision
dispatch our table rests on (it happens before the device's kernel is
chosen), the table config by config, and the hook with a GPU simulated.
"""
import os
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch
import torchvision
from mmengine.config import Config
from torch import nn

from mmssl_ext.engine.hooks.deterministic_cuda import (DeterministicCUDAHook,
                                                       nondeterministic_cuda_ops,
                                                       use_deterministic_cublas)

from .conftest import REPO_ROOT


def _graph_nodes(tensor):
    seen, stack = [], [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.append(node)
            stack += [n for n, _ in node.next_functions]
    return [type(n).__name__ for n in seen]


@pytest.mark.parametrize('channels_last', [False, True])
def test_an_adaptive_pool_to_one_is_a_mean_in_autograd(channels_last):
    """ATen's composite adaptive_avg_pool2d computes a mean at output size 1,
    before any device kernel: no adaptive_avg_pool2d backward (which has no
    deterministic CUDA kernel) is in the graph. At size 2 it is."""
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    one, two = _graph_nodes(nn.AdaptiveAvgPool2d(1)(x)), _graph_nodes(nn.AdaptiveAvgPool2d(2)(x))
    assert not any(n.startswith('AdaptiveAvgPool2DBackward') for n in one), one
    assert any(n.startswith('MeanBackward') for n in one), one
    assert any(n.startswith('AdaptiveAvgPool2DBackward') for n in two), two


def test_torchvision_roi_align_takes_its_pure_pytorch_version_when_deterministic_on_cuda(
        monkeypatch):
    """What MaskCo's deterministic CUDA run rests on: with deterministic
    algorithms on and a CUDA input, torchvision's roi_align runs
    ``_roi_align`` (compiled, a deterministic backward), which gives the
    kernel's values. A CUDA input is simulated; the version is run uncompiled."""
    module = sys.modules['torchvision.ops.roi_align']
    pure = module._roi_align.__wrapped__
    calls = []
    monkeypatch.setattr(module, '_roi_align', lambda *a: calls.append(a) or pure(*a))
    monkeypatch.setattr(module, 'is_compile_supported', lambda device: True)
    x = torch.randn(2, 4, 8, 8)
    rois = torch.tensor([[0, 1., 1., 6., 6.], [1, 0., 2., 7., 5.]])
    kernel = torchvision.ops.roi_align(x, rois, 3, 0.5, 0, True)
    assert not calls
    monkeypatch.setattr(torch.Tensor, 'is_cuda', property(lambda self: True))
    torch.use_deterministic_algorithms(True)
    try:
        pure_out = torchvision.ops.roi_align(x, rois, 3, 0.5, 0, True)
    finally:
        torch.use_deterministic_algorithms(False)
    assert len(calls) == 1
    torch.testing.assert_close(pure_out, kernel)


def _model(config):
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    return MODELS.build(cfg.model)


def _compile_supported(monkeypatch, supported):
    import torch._dynamo.utils
    monkeypatch.setattr(torch._dynamo.utils, 'is_compile_supported', lambda device: supported)


# What the docs' "Determinism on CUDA" table says, config by config (torch
# with triton, as torch's CUDA wheels for Linux have it).
EXPECTED = {
    'mocov2/mocov2_r18_1xb32-600i_synthetic.py': [],
    'looc/looc_r18_1xb32-600i_synthetic.py': [],
    'nnclr/nnclr_r18_1xb32-600i_synthetic.py': [],
    'dilo/dilo-mocov2_r18_1xb32-600i_synthetic.py': [],
    'detcon/detcon-b_r18_1xb32-600i_synthetic.py': [],
    'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py': [],
    'dino/dino_r18_1xb32-600i_synthetic.py': [],
    'dino/dino_vit-small-p16_8xb64-coslr-100e_in1k.py': ['upsample_bicubic2d'],
    'maskco/maskco_r18_1xb32-600i_synthetic.py': [],
}


@pytest.mark.parametrize('config', sorted(EXPECTED), ids=lambda c: osp.basename(c)[:-3])
def test_which_configs_can_run_deterministically_on_cuda(config, monkeypatch):
    _compile_supported(monkeypatch, True)
    ops = nondeterministic_cuda_ops(_model(config))
    assert [next(k for k in ('roi_align', 'upsample_bicubic2d') if k in op)
            for op in ops] == EXPECTED[config], ops


def test_maskco_is_refused_where_torchvision_cannot_compile_its_deterministic_roi_align(
        monkeypatch):
    _compile_supported(monkeypatch, False)
    [op] = nondeterministic_cuda_ops(_model('maskco/maskco_r18_1xb32-600i_synthetic.py'))
    assert 'roi_align backward' in op and 'triton' in op


def test_an_adaptive_pool_of_another_size_is_named():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d((2, 2)), nn.AdaptiveAvgPool2d(1))
    assert nondeterministic_cuda_ops(model) == [
        'adaptive_avg_pool backward (1, output size (2, 2))']


def _runner(model):
    return SimpleNamespace(model=model)


def test_the_hook_fixes_cublas_and_refuses_on_cuda_naming_the_op(monkeypatch):
    # Recorded by monkeypatch first, so that what the hook sets is undone afterwards.
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG')
    _compile_supported(monkeypatch, True)
    dino = _model('dino/dino_vit-small-p16_8xb64-coslr-100e_in1k.py')
    maskco = _model('maskco/maskco_r18_1xb32-600i_synthetic.py')
    hook = DeterministicCUDAHook()
    hook.before_run(_runner(dino))  # deterministic mode off: nothing happens
    monkeypatch.setattr(torch, 'are_deterministic_algorithms_enabled', lambda: True)
    monkeypatch.setattr(torch, 'is_deterministic_algorithms_warn_only_enabled', lambda: False)
    hook.before_run(_runner(dino))  # on the CPU: nothing to refuse, nothing to set
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
    # As if on a GPU (a CPU cannot run the CUDA kernels).
    monkeypatch.setattr(torch.Tensor, 'is_cuda', property(lambda self: True))
    with pytest.raises(RuntimeError, match=r'DINO uses ops without a deterministic CUDA '
                       r'backward: upsample_bicubic2d backward.*'
                       r'randomness.deterministic=False'):
        hook.before_run(_runner(dino))
    hook.before_run(_runner(maskco))  # deterministic with torchvision's compiled RoIAlign
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'


def test_a_cublas_workspace_that_is_not_deterministic_is_refused(monkeypatch):
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':16:8')
    assert use_deterministic_cublas() == ':16:8'  # the user's valid choice is kept
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':0:0')
    with pytest.raises(RuntimeError, match=r"CUBLAS_WORKSPACE_CONFIG=':0:0'.*:4096:8 or :16:8"):
        use_deterministic_cublas()


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
    assert runner.iter == 2
