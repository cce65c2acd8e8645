"""The fast paths change speed or memory, never the maths; the measuring helpers."""
import copy
import os.path as osp
import types

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext import register_all_modules
from mmssl_ext.analysis.benchmark import RSSSampler, count_saved_activations, spread
from mmssl_ext.engine.hooks import ChannelsLastHook
from mmssl_ext.registry import MODELS

from .conftest import REPO_ROOT
from .test_train_e2e import _logged_losses, _small_cfg


@pytest.fixture(autouse=True)
def _scope():
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')


def _resnet18(seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )))
    model.init_weights()
    model.eval()  # (mmpretrain's train() returns None: no chaining)
    return model


def test_channels_last_converts_conv_weights_and_keeps_the_outputs():
    plain = _resnet18()
    fast = ChannelsLastHook.convert(copy.deepcopy(plain))
    conv = fast.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.conv1.weight.is_contiguous()
    x = torch.randn(2, 3, 64, 64)
    out = fast(x)[0]
    assert out.is_contiguous(memory_format=torch.channels_last)  # the format propagates
    torch.testing.assert_close(out, plain(x)[0], rtol=1e-4, atol=1e-4)


def test_channels_last_hook_in_a_runner_run(tmp_path, small_run_options):
    cfg = _small_cfg(tmp_path / 'run', small_run_options)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='ChannelsLastHook')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    losses = [r['loss'] for r in _logged_losses(cfg.work_dir)]
    assert len(losses) == 4 and np.isfinite(losses).all()
    # Same seed without the hook: the same losses (the layout is not the maths):
    # the first step equal, later ones apart only by the summation order of the
    # convolutions, compounded over the updates.
    cfg_plain = _small_cfg(tmp_path / 'plain', small_run_options)
    Runner.from_cfg(cfg_plain).train()
    plain = [r['loss'] for r in _logged_losses(cfg_plain.work_dir)]
    np.testing.assert_allclose(losses[0], plain[0], rtol=1e-5)
    np.testing.assert_allclose(losses, plain, rtol=1e-2)


def test_vit_gradient_checkpointing_same_gradients_fewer_saved_activations():
    cfg = dict(type='ImportanceMaskingViT', arch='small', img_size=32, patch_size=8,
               mask_ratio=0.5)
    cfg['arch'] = dict(embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128)
    torch.manual_seed(0)
    plain = MODELS.build(cfg)
    plain.init_weights()
    fast = MODELS.build(dict(cfg, with_cp=True))
    fast.load_state_dict(plain.state_dict())
    images = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[0, 3, 5, 9], [1, 2, 14, 15]])

    def run(model):
        model.zero_grad()
        with count_saved_activations() as saved:
            out = model.encode_set(model.patch_tokens(images), ids)
            out.square().sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return out.detach(), grads, sum(saved.values())

    out_plain, grads_plain, saved_plain = run(plain)
    out_fast, grads_fast, saved_fast = run(fast)
    torch.testing.assert_close(out_fast, out_plain)
    assert grads_fast.keys() == grads_plain.keys()
    for name in grads_plain:
        torch.testing.assert_close(grads_fast[name], grads_plain[name], msg=name)
    assert saved_fast < saved_plain / 2
    # No graph (the masked set of ccMIM under stop-gradient): nothing recomputed.
    with torch.no_grad():
        torch.testing.assert_close(fast.encode_set(fast.patch_tokens(images), ids), out_plain)


def test_rss_sampler_sees_memory_touched_inside_the_block():
    import mmap
    size = 64 * 2**20
    # Fresh anonymous pages: malloc could hand back memory an earlier test
    # freed, still resident, which would not raise the RSS.
    block = mmap.mmap(-1, size)
    with RSSSampler(interval=0.001) as rss:
        block.write(b'\x01' * size)  # every page written
    assert rss.rise >= 48 * 2**20
    assert rss.peak >= rss.start + rss.rise - 1
    block.close()


def test_spread_worked_example():
    s = spread([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s['median'], s['q1'], s['q3'], s['min'], s['max'], s['n']) == (3, 2, 4, 1, 5, 5)
    assert spread([7.0]) == dict(median=7.0, q1=7.0, q3=7.0, min=7.0, max=7.0, n=1)


def test_compile_modules_hook_compiles_in_place_and_keeps_the_state_dict_keys():
    from mmssl_ext.engine.hooks import CompileModulesHook
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'mocov2',
                                   'mocov2_r18_1xb32-600i_synthetic.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        expected = model.backbone(x)[0]
    # the eager backend: the hook's plumbing without a compiler run in the tests
    hook = CompileModulesHook(modules=('backbone', 'neck'), backend='eager')
    hook.before_train(types.SimpleNamespace(model=model))
    assert list(model.state_dict()) == keys  # no _orig_mod. prefix
    assert model.backbone._compiled_call_impl is not None
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x)[0], expected)
    with pytest.raises(ValueError, match="no submodule 'decoder'"):
        CompileModulesHook.compile(model, ('decoder', ))
