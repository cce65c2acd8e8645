"""The benchmark scripts run and print their tables (figures are not asserted)."""
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT

TOOLS = osp.join(REPO_ROOT, 'tools', 'analysis_tools')


@pytest.mark.slow
def test_step_time_benchmark_prints_a_row_per_config(synthetic_root, subprocess_env):
    configs = [osp.join(REPO_ROOT, 'configs', *p) for p in (
        ('mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
        ('maskco', 'maskco_r18_1xb32-600i_synthetic.py'),
        ('mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
        ('detcon', 'detcon-s_r18_1xb32-600i_synthetic.py'))]
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_step_time.py'), *configs, '--pairs',
         '--batch', '4', '--iters', '1', '--warmup', '1', '--data-root', synthetic_root],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(('mocov2', 'maskco',
                                                                           'detcon'))]
    assert len(rows) == 4
    assert rows[0].split()[4] == '1.00' and rows[2].split()[4] == '1.00'  # pair baselines


def test_fh_benchmark_prints_a_row_per_size(synthetic_root, subprocess_env):
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_fh.py'), '--img-dir',
         osp.join(synthetic_root, 'images', 'val'), '--num', '2', '--sizes', '64', '32x48'],
        env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].split()[0] == '64' and lines[-1].split()[0] == '32x48'


def _benchmark_ccmim_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('benchmark_ccmim',
                                                  osp.join(TOOLS, 'benchmark_ccmim.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ccmim_benchmark_prints_mae_ccmim_and_the_same_maths_variants(synthetic_root,
                                                                      subprocess_env):
    config = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_ccmim.py'), config, '--batch', '4',
         '--iters', '1', '--warmup', '1', '--data-root', synthetic_root],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()
            if line.startswith(('mae ', 'ccmim ', 'ccmim/'))}
    assert set(rows) == {'mae', 'ccmim', 'ccmim/graph-masked', 'ccmim/full-attention'}
    assert rows['mae'][3] == '1.00'
    # Memory, not time: building the masked branch's graph keeps its
    # activations (48 of 64 patches) for a backward that never uses them.
    assert float(rows['ccmim/graph-masked'][4]) > 1.5 * float(rows['ccmim'][4])
    assert 'of the analytic estimate' in proc.stdout


def test_ccmim_benchmark_variants_compute_the_same_losses():
    import types

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext.registry import MODELS
    from mmssl_ext.utils import register_all_modules
    bench = _benchmark_ccmim_module()
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                   'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    images = torch.randn(4, 3, 64, 64)

    def losses():
        torch.manual_seed(1)
        out = model.loss(images, [])
        return out['loss_rec'], out['loss_contrast']

    reference = losses()
    plain_importance = model.backbone.importance
    model.backbone.importance = types.MethodType(bench._full_attention_importance,
                                                 model.backbone)
    torch.testing.assert_close(model.backbone.importance(images), plain_importance(images))
    torch.testing.assert_close(losses(), reference)
    model.loss = types.MethodType(bench._graph_masked_loss, model)
    torch.testing.assert_close(losses(), reference)


def test_ccmim_analytic_ratio_at_vit_b():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext.utils import register_all_modules
    bench = _benchmark_ccmim_module()
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                   'ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py'))
    # Worked by hand, in GMACs: encoder layer on n tokens = 12 n 768^2 + 2 n^2 768,
    # decoder layer = 12 n 512^2 + 2 n^2 512; 12 encoder, 8 decoder layers.
    enc = lambda n: 12 * (12 * n * 768 ** 2 + 2 * n * n * 768) / 1e9  # noqa: E731
    dec = 8 * (12 * 197 * 512 ** 2 + 2 * 197 ** 2 * 512) / 1e9
    mae = 3 * (enc(50) + dec)                    # 28.7: 49 visible + CLS, fwd + bwd
    extra = enc(197) * 11 / 12 + enc(148)        # importance (no last layer) + masked set
    assert bench.analytic_ratio(cfg) == pytest.approx((mae + extra) / mae, rel=1e-9)
    assert 1.9 < bench.analytic_ratio(cfg) < 2.1
