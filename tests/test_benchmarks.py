"""The benchmark scripts run and print their tables (figures are not asserted)."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT
from .test_configs import CONFIG_DIR, PRETRAIN_CONFIGS

TOOLS = osp.join(REPO_ROOT, 'tools', 'analysis_tools')


def _configs(*names):
    return [osp.join(REPO_ROOT, 'configs', *name.split('/')) for name in names]


@pytest.mark.slow
def test_train_benchmark_alternates_a_config_with_its_baseline(
        synthetic_root, subprocess_env, tmp_path):
    maskco, mocov2 = _configs('maskco/maskco_r18_1xb32-600i_synthetic.py',
                              'mocov2/mocov2_r18_1xb32-600i_synthetic.py')
    out = tmp_path / 'figures.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_train.py'), maskco, '--baseline', mocov2,
         '--batch', '4', '--iters', '2', '--warmup', '1', '--workers', '1',
         '--data-root', synthetic_root, '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert [row['config'] for row in figures['rows']] == [osp.basename(maskco),
                                                          osp.basename(mocov2)]
    for row in figures['rows']:
        assert row['batch'] == 4 and row['view'] == 64 and row['workers'] == 1
        assert row['step_s']['n'] == 2 and row['data_s']['n'] == 2
        assert 0 < row['step_s']['min'] <= row['step_s']['median'] <= row['step_s']['max']
        # the same ResNet-18 encoder; MaskCo's adds the MPH
        assert row['gmacs_per_view'] > 0.1
        assert row['saved_activations_mib'] > 1
        # a child process holding the model: above the bare interpreter's size
        assert row['peak_mib'] > 100 and row['train_mib'] > 0
    maskco_row, mocov2_row = figures['rows']
    assert maskco_row['gmacs_per_view'] > mocov2_row['gmacs_per_view']
    ratio = maskco_row['step_s']['median'] / mocov2_row['step_s']['median']
    assert f'{ratio:.3f}' in proc.stdout
    assert 'benchmark_train.py' in figures['environment']['command']


@pytest.mark.slow
def test_train_benchmark_fast_paths_on_the_config_only(synthetic_root, subprocess_env, tmp_path):
    detcon, = _configs('detcon/detcon-s_r18_1xb32-600i_synthetic.py')
    out = tmp_path / 'figures.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_train.py'), detcon, '--baseline', detcon,
         '--channels-last', '--with-cp', '--synthetic-data', '--no-memory', '--batch', '4',
         '--iters', '1', '--warmup', '1', '--data-root', synthetic_root, '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fast, plain = json.loads(out.read_text())['rows']
    assert fast['config'].endswith('+channels_last +with_cp') and '+' not in plain['config']
    assert fast['data_s']['max'] < 1e-3  # one batch reused: no loading
    # gradient checkpointing keeps fewer activations for the backward
    assert fast['saved_activations_mib'] < plain['saved_activations_mib']


def test_train_benchmark_refuses_amp_on_the_cpu_and_with_cp_where_unsupported(synthetic_root):
    from mmssl_ext.analysis.benchmark import TrainBenchmarkSettings, prepare_training_config
    from mmssl_ext.utils.config_check import ConfigError
    settings = TrainBenchmarkSettings(device='cpu', amp='bfloat16', data_root=synthetic_root)
    with pytest.raises(ConfigError, match='AmpOptimWrapper needs a GPU'):
        prepare_training_config(_configs('ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')[0],
                                {}, settings, fast_paths=True)
    # an AMP config without --amp: its fp32 step on the CPU, the optimiser kept
    amp_config = _configs('ccmim/ccmim_vit-base-p16_8xb128-amp-coslr-300e_in1k.py')[0]
    settings = TrainBenchmarkSettings(device='cpu', data_root=synthetic_root)
    cfg = prepare_training_config(amp_config, {}, settings, fast_paths=True)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and 'paramwise_cfg' in cfg.optim_wrapper
    settings = TrainBenchmarkSettings(device='cpu', with_cp=True, data_root=synthetic_root)
    with pytest.raises(ConfigError, match='has no with_cp'):
        prepare_training_config('mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
                                {}, settings, fast_paths=True)


def test_pipeline_benchmark_times_each_transform(synthetic_root, subprocess_env, tmp_path):
    maskco, detcon = _configs('maskco/maskco_r18_1xb32-600i_synthetic.py',
                              'detcon/detcon-s_r18_1xb32-600i_synthetic.py')
    out = tmp_path / 'pipelines.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_pipeline.py'), maskco, detcon, '--num', '3',
         '--warmup', '1', '--workers', '1', '--batches', '1', '--batch', '2',
         '--step-ms', '50', '--data-root', synthetic_root, '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert list(rows[0]['transforms']) == ['LoadImageFromFile', 'MaskCoViews', 'PackInputs']
    assert list(rows[1]['transforms']) == ['LoadImageFromFile', 'LoadFHMasks', 'DetConViews',
                                           'DetConCells', 'PackInputs']
    for row in rows:
        assert row['images_per_s_per_worker'] > 0 and row['loader_images_per_s']['1'] > 0
        # 2 images per 50 ms step = 40 images/s
        assert row['workers_needed'] == math.ceil(40 / row['images_per_s_per_worker'])


def test_fh_benchmark_prints_a_row_per_size(synthetic_root, subprocess_env):
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_fh.py'), '--img-dir',
         osp.join(synthetic_root, 'images', 'val'), '--num', '2', '--sizes', '64', '32x48'],
        env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].split()[0] == '64' and lines[-1].split()[0] == '32x48'


def _tool_module(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _benchmark_ccmim_module():
    return _tool_module('benchmark_ccmim')


@pytest.mark.slow
def test_ccmim_benchmark_measures_mae_ccmim_and_the_same_maths_variants(
        synthetic_root, subprocess_env, tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')
    out = tmp_path / 'ccmim.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_ccmim.py'), config, '--batch', '4',
         '--iters', '1', '--warmup', '1', '--data-root', synthetic_root, '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    rows = {row['variant']: row for row in figures['rows']}
    assert list(rows) == ['mae', 'ccmim', 'ccmim/graph-masked', 'ccmim/full-attention']
    assert rows['mae']['step_x_mae'] == 1.0 and all(r['step_s'] > 0 for r in rows.values())
    assert all(r['peak_gib'] is None for r in rows.values())  # CPU
    # Memory, not time: building the masked branch's graph keeps its
    # activations (48 of 64 patches) for a backward that never uses them.
    assert rows['ccmim/graph-masked']['saved_mib'] > 1.5 * rows['ccmim']['saved_mib']
    assert 1.5 < figures['analytic_ratio'] < 3


def test_ccmim_benchmark_variants_compute_the_same_losses_and_gradients():
    """The two variants benchmark_ccmim.py times are options of the real
    classes (the official code's way: the masked set encoded with a graph,
    then detached; the importance from each layer's full attention): the
    same losses, logged terms and gradients as the default model."""
    import copy

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                   'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'))
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))

    def step(**options):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.update({k: v for k, v in options.items() if k != 'backbone'})
        model_cfg.backbone.update(options.get('backbone', {}))
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        model.init_weights()
        model.train()
        torch.manual_seed(1)
        out = model.loss(images, [])
        sum(v for k, v in out.items() if k.startswith('loss')).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return model, out, grads

    model, reference, reference_grads = step()
    assert set(reference) == {'loss_rec', 'loss_contrast', 'contrast'}
    for options in (dict(masked_set_graph=True),
                    dict(backbone=dict(full_attention_importance=True))):
        variant, out, grads = step(**options)
        assert set(out) == set(reference), options
        for key in reference:
            torch.testing.assert_close(out[key], reference[key])
        assert len(grads) == len(reference_grads)
        for a, b in zip(grads, reference_grads):
            torch.testing.assert_close(a, b)
    full = step(backbone=dict(full_attention_importance=True))[0]
    with torch.no_grad():
        torch.testing.assert_close(full.backbone.importance(images),
                                   model.backbone.importance(images))


def test_ccmim_analytic_ratio_at_vit_b():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
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


# The AMP proxy's tolerance on the loss, bf16 autocast + channels-last against
# fp32 on the same batch and weights of the narrowed model (below). Measured
# over the 57 groups of the 74 configs at batch 4 (2026-12-06): at most 1.3% apart
# (MaskCo's intra-image negatives), BYOL's near-zero losses 0.002 apart, and
# NNCLR's R50 model 9.3% apart: its positive is a hard nearest neighbour in
# the support set, which the rounding of the projections can change (its R18
# config: 0.1% narrowed, 3.8% at full width on 2026-12-03). At batch 2 the
# BN1d layers of the projection heads turn each feature into the sign of the
# two samples' difference, which rounding flips at initialisation (NNCLR's
# projections were then 0.85 cosine apart): hence batch 4.
AMP_LOSS_RTOL, AMP_LOSS_ATOL = 0.05, 0.02
AMP_LOSS_RTOL_NEAREST_NEIGHBOUR = 0.15  # NNCLR
# Channels-last in fp32 against contiguous fp32: float-sum order only. The
# absolute part is for losses that are small differences of O(1) terms: BYOL's
# 2 - 2cos is 0.09 on the narrowed model, and the sum order moves it by 1.1e-5
# (a layout bug moves a loss by percents: mmcv's RoIAlign moved MaskCo's 1.6%).
CL_LOSS_RTOL, CL_LOSS_ATOL = 1e-4, 1e-4
# The bf16 step runs on a narrowed copy of each model (below): ResNets at a
# quarter of their width, ViT encoders and decoders of this many layers.
NARROW_RESNET_DIVISOR = 4
NARROW_VIT_LAYERS = 2


def _step_inputs(cfg) -> str:
    """What one training step of a config computes from: its model and its
    pipeline (a schedule's length, an lr or an epoch count do not enter the
    step's losses and gradients)."""
    return repr((cfg.model, cfg.train_dataloader.dataset.get('pipeline')))


def _configs_by_step_inputs(paths) -> list:
    """The configs grouped by :func:`_step_inputs`, in order of first appearance:
    the 74 pretraining configs form 57 groups (a recipe at 100, 200 and 800
    epochs, on COCO and on ImageNet, is one model on one pipeline)."""
    from mmengine.config import Config
    groups = {}
    for path in paths:
        groups.setdefault(_step_inputs(Config.fromfile(path)), []).append(path)
    return list(groups.values())


def _narrowed(model_cfg):
    """A copy of a pretraining model's config with the same code path and
    smaller matrices, for the bf16 step.

    bf16 matrix products have no fast CPU kernel without AVX512-BF16 or AMX
    (measured on CI's AVX2 machine, 2026-12-06: a 788x768x3072 product at
    1.0 GFLOP/s against 76 in fp32; a ViT-B step of ccMIM 136 s against 8 s),
    and the dtype of each op does not depend on how wide or deep the network
    is. ResNets keep their depth and block type at a quarter of the width
    (their neck's ``in_channels`` follows); ViT encoders keep their width and
    heads with NARROW_VIT_LAYERS layers, and so do MAE-style decoders; BEiT's
    DALL-E tokenizer keeps its blocks at a quarter of its hidden width."""
    import copy

    from mmssl_ext.registry import MODELS
    model_cfg = copy.deepcopy(model_cfg)
    backbone = model_cfg.backbone
    if backbone.type == 'ResNet':
        out_channels = backbone.get('base_channels', 64) * 8 * (4 if backbone.depth >= 50 else 1)
        for key in ('stem_channels', 'base_channels'):
            backbone[key] = backbone.get(key, 64) // NARROW_RESNET_DIVISOR
        # the modules that read the backbone's maps: the neck, and MaskCo's
        # projector after its MPH (which keeps the channels)
        readers = [part for part in model_cfg.values()
                   if isinstance(part, dict) and part.get('in_channels') == out_channels]
        assert readers, f'no module reads the {out_channels} channels of {backbone}'
        for part in readers:
            part.in_channels //= NARROW_RESNET_DIVISOR
    else:
        arch_zoo = MODELS.get(backbone.type).arch_zoo
        arch = dict(backbone.arch) if isinstance(backbone.arch, dict) else \
            dict(arch_zoo[backbone.arch.lower()])
        arch['num_layers'] = NARROW_VIT_LAYERS
        backbone.arch = arch
        if 'decoder_depth' in (model_cfg.get('neck') or {}):
            model_cfg.neck.decoder_depth = NARROW_VIT_LAYERS
    # BEiT's DALL-E tokenizer (frozen, it makes the targets): its hidden width
    target = model_cfg.get('target_generator') or {}
    if target.get('type') == 'DALL-E':
        target.n_hid = target.get('n_hid', 256) // NARROW_RESNET_DIVISOR
    return model_cfg


@pytest.mark.parametrize('paths', _configs_by_step_inputs(PRETRAIN_CONFIGS),
                         ids=lambda ps: osp.relpath(ps[0], CONFIG_DIR))
def test_every_pretraining_config_steps_in_fp32_channels_last_and_under_bf16_autocast(
        paths, synthetic_root):
    """The harness prepares every pretraining config, makes a batch with its
    pipeline (batch 4) and runs the forward pass of its full-size model to
    finite losses: the parts of a config fit together (a ViT-S config with a
    768-d backbone and 384-d heads built, and failed only here). A shape that
    does not fit fails in the forward; the backward and the update, which
    cost three forwards more at full size, run on the narrowed model below.

    The narrowed model (:func:`_narrowed`: the config's own algorithm, heads,
    options and batch; smaller matrices) runs one real training step in fp32
    with finite losses and gradients. Channels-last: the forward pass of that
    step on a copy with channels-last weights gives the fp32 loss within
    CL_LOSS_RTOL/ATOL (memory format does not depend on width). The AMP proxy: a
    copy, from the same weights, batch and random draws, steps under
    ``torch.autocast('cpu', dtype=torch.bfloat16)`` with channels-last
    weights: finite losses and gradients, losses within AMP_LOSS_RTOL/ATOL.
    The closest a CPU can come to CUDA AMP, so that a dtype mismatch (mmcv's
    RoIAlign had no bf16 kernel) fails here before a GPU sees it.

    The configs whose prepared model and pipeline equal the first one's (the
    same recipe on other schedules) are checked to be equal and not stepped
    again: the step would compute the same thing."""
    import copy

    import torch
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.analysis.benchmark import (TrainBenchmarkSettings, build_for_training,
                                              checked_step, drop_remote_init, forward_losses,
                                              one_batch, prepare_training_config)
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    settings = TrainBenchmarkSettings(device='cpu', batch=4, synthetic_data=True,
                                      data_root=synthetic_root)

    def prepared(config):
        return prepare_training_config(config, {}, settings, fast_paths=False)

    path = paths[0]
    cfg = prepared(path)
    for same in paths[1:]:
        assert _step_inputs(prepared(same)) == _step_inputs(cfg), (same, path)
    # Weights that the config downloads at initialisation (BEiT's DALL-E
    # tokenizer) are not fetched: CI has no network. The part stays randomly
    # initialised, which changes the targets' values, not the step.
    remote = drop_remote_init(cfg.model)
    assert bool(remote) == ('beit' in osp.basename(path)), remote
    assert cfg.train_dataloader.batch_size == 4
    assert 'AmpOptimWrapper' not in str(cfg.optim_wrapper.type)  # fp32 on the CPU
    if 'queue_len' in cfg.model:
        assert cfg.model.queue_len % 4 == 0
    data = one_batch(cfg, synthetic_root, 4)
    assert len(data['data_samples']) == 4
    views = data['inputs'] if isinstance(data['inputs'], list) else [data['inputs']]
    assert all(v.shape[0] == 4 and v.shape[1] == 3 for v in views)
    MessageHub.get_current_instance().update_info('max_iters', 100)  # BYOL's CosineEMA
    model, _ = build_for_training(cfg, 'cpu')
    full_losses = forward_losses(model, copy.deepcopy(data))
    assert all(math.isfinite(v) for v in full_losses.values()), full_losses
    full_size = sum(p.numel() for p in model.parameters())
    del model

    narrow_cfg = copy.deepcopy(cfg)
    narrow_cfg.model = _narrowed(cfg.model)
    narrow, narrow_wrapper = build_for_training(narrow_cfg, 'cpu')
    assert sum(p.numel() for p in narrow.parameters()) < full_size
    cl_model = copy.deepcopy(narrow)
    amp_model, amp_wrapper = build_for_training(narrow_cfg, 'cpu')  # same seed: same weights
    narrow_losses, finite = checked_step(narrow, narrow_wrapper, copy.deepcopy(data))
    assert finite and all(math.isfinite(v) for v in narrow_losses.values()), narrow_losses
    # Channels-last alone changes the memory layout, not the maths: the same
    # loss up to the order of float sums (mmcv's RoIAlign, which read any
    # input as NCHW memory, moved MaskCo's loss by 1.6% here). The forward
    # of the step is enough: its loss is computed before the update.
    cl_losses = forward_losses(cl_model, copy.deepcopy(data), channels_last=True)
    assert cl_losses['loss'] == pytest.approx(narrow_losses['loss'], rel=CL_LOSS_RTOL,
                                              abs=CL_LOSS_ATOL), (narrow_losses, cl_losses)
    del cl_model
    amp_losses, amp_finite = checked_step(amp_model, amp_wrapper, data, torch.bfloat16,
                                          channels_last=True)
    assert amp_finite and all(math.isfinite(v) for v in amp_losses.values()), amp_losses
    rtol = AMP_LOSS_RTOL_NEAREST_NEIGHBOUR if cfg.model.type == 'NNCLR' else AMP_LOSS_RTOL
    assert amp_losses['loss'] == pytest.approx(narrow_losses['loss'], rel=rtol,
                                               abs=AMP_LOSS_ATOL), (narrow_losses, amp_losses)


def test_pipeline_benchmark_times_the_start_of_an_epoch(synthetic_root, subprocess_env, tmp_path):
    # an epoch-based config (DefaultSampler); the iteration-based ones have one epoch
    detcon, maskco = _configs('detcon/detcon-s_r50_16xb256-coslr-1296e_coco.py',
                              'maskco/r50_8xb32_coco.py')
    out = tmp_path / 'epoch.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark_pipeline.py'), detcon, maskco, '--num', '1',
         '--warmup', '0', '--batch', '2', '--epoch-start', '1', '--data-root', synthetic_root,
         '--json', str(out)],
        env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    detcon_row, maskco_row = json.loads(out.read_text())
    assert set(detcon_row['epoch_start_s']) == {'False', 'True'}
    assert all(wait > 0 for wait in detcon_row['epoch_start_s'].values())
    assert not detcon_row['single_epoch'] and maskco_row['single_epoch']
    assert 'epoch_start_s' not in maskco_row and 'InfiniteSampler' in proc.stdout


def test_suite_row_shows_the_ratio_to_the_reference_row():
    from mmssl_ext.analysis.suite import row_markdown

    def row(median, act):
        step = dict(median=median, q1=median * 0.9, q3=median * 1.1, min=0, max=0, n=3)
        return dict(view=64, batch=32, step_s=step, data_s=dict(median=0.002),
                    images_per_s=32 / median, gmacs_per_view=0.152,
                    saved_activations_mib=act, peak_mib=1100.0, train_mib=None)
    text = row_markdown('maskco', row(0.45, 105.0), row(0.40, 100.0))
    cells = [c.strip() for c in text.strip('|').split('|')]
    assert cells == ['maskco', '64', '32', '450 (405-495)', '2.0', '71.1', '**1.12**', '0.152',
                     '105', '1100', '-']


@pytest.mark.slow
def test_reliability_benchmark_times_the_step_with_and_without_the_hooks(synthetic_root):
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.analysis.hook_overhead import measure_hook_overhead
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    config, = _configs('maskco/maskco_r18_1xb32-600i_synthetic.py')
    figures = measure_hook_overhead(config, batch=4, iters=2, warmup=1, data_root=synthetic_root)
    for name in ('plain', 'hooks'):
        assert figures[name]['n'] == 2 and figures[name]['median'] > 0
    assert figures['ratio'] == figures['hooks']['median'] / figures['plain']['median']
    # the guard copies MaskCo's buffers: its queue (256 fp32 keys of 128 dims in
    # the config) and the BN statistics of two ResNet-18s on top of it
    assert figures['buffer_bytes'] > 256 * 128 * 4


# What the CPU run of gpu_check.py below steps: the three kinds of model and
# data of the small configs (a ResNet with RoIAlign'd boxes and a queue, a
# ResNet on mask-pooled FH regions, a ViT under masked image modelling). The
# --quick default, every method's small config, is checked on its own: every
# small config's step in each precision is test_every_pretraining_config_...'s.
GPU_CHECK_CONFIGS = ('maskco/maskco_r18_1xb32-600i_synthetic.py',
                     'detcon/detcon-s_r18_1xb32-600i_synthetic.py',
                     'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')


def test_gpu_check_quick_steps_the_small_config_of_every_method():
    from mmssl_ext.analysis.benchmark import pretraining_configs
    gpu_check = _tool_module('gpu_check')
    small = [c for c in pretraining_configs(CONFIG_DIR) if c.endswith('_synthetic.py')]
    assert len(small) >= 12
    assert [osp.realpath(c) for c in gpu_check.default_configs(quick=True)] == \
        [osp.realpath(c) for c in small]
    full = gpu_check.default_configs(quick=False)
    assert full[:len(small)] == gpu_check.default_configs(quick=True)  # the small ones first
    assert sorted(map(osp.realpath, full)) == sorted(
        map(osp.realpath, pretraining_configs(CONFIG_DIR)))
    args = gpu_check.parse_args(['--device', 'cpu', '--configs', *_configs(*GPU_CHECK_CONFIGS)])
    assert list(map(osp.realpath, gpu_check._configs(args, quick=True))) == \
        list(map(osp.realpath, _configs(*GPU_CHECK_CONFIGS)))


@pytest.mark.slow
def test_gpu_check_compares_mmcvs_cuda_ops_with_their_cpu_kernels(monkeypatch):
    """The mmcv-cuda-ops check's comparison, with CUDA simulated by the CPU
    (``Tensor.cuda`` left on the CPU): the same kernels agree; a build
    without CUDA kernels (mmcv raising) is a failed row naming the error."""
    import mmcv.ops
    import torch
    gpu_check = _tool_module('gpu_check')
    args = gpu_check.parse_args(['--device', 'cpu'])
    assert gpu_check.mmcv_cuda_rows(args) == []  # CUDA only
    args.device = 'cuda'
    monkeypatch.setattr(torch.Tensor, 'cuda', lambda self, *a, **k: self)
    [row] = gpu_check.mmcv_cuda_rows(args)
    assert row['ok'] is True and 'roi_align max diff 0.0e+00' in row['note'], row

    def no_cuda_kernel(*args, **kwargs):
        raise RuntimeError('roi_align_forward_impl: implementation for device cuda:0 not found.')

    monkeypatch.setattr(mmcv.ops, 'roi_align', no_cuda_kernel)
    [row] = gpu_check.mmcv_cuda_rows(args)
    assert row['ok'] is False and 'implementation for device cuda:0 not found' in row['note']
    real_find_spec = gpu_check.importlib.util.find_spec
    monkeypatch.setattr(gpu_check.importlib.util, 'find_spec',
                        lambda name: None if name == 'mmcv._ext' else real_find_spec(name))
    [row] = gpu_check.mmcv_cuda_rows(args)  # mmcv-lite: not a failure of the machine
    assert row['ok'] is None and 'mmcv-lite' in row['note']


def test_gpu_check_checks_determinism_on_dinos_vit_too():
    """The docs' one refusal that no small config shows (the ViT's bicubic
    position embedding) is among the configs of the determinism check."""
    gpu_check = _tool_module('gpu_check')
    args = gpu_check.parse_args(['--device', 'cpu'])
    configs = gpu_check._check_configs(args, gpu_check.DETERMINISM_EXTRA_CONFIGS)
    assert configs[:-1] == gpu_check.default_configs(quick=True)
    assert osp.isfile(configs[-1]) and 'dino_vit' in configs[-1]
    named = gpu_check.parse_args(['--device', 'cpu', '--configs', *_configs(*GPU_CHECK_CONFIGS)])
    assert gpu_check._check_configs(named, gpu_check.DETERMINISM_EXTRA_CONFIGS) == \
        gpu_check._configs(named, quick=True)


def test_gpu_check_runs_each_kind_of_method_in_each_precision_on_the_cpu(tmp_path,
                                                                         subprocess_env):
    """`gpu_check.py --device cpu --quick --configs ...`: the same code as on a
    GPU, a small config of each kind in fp32, bf16 autocast and channels-last,
    the per-method checks on the same configs, a JSON row per step and a
    Markdown table."""
    out = tmp_path / 'check'
    configs = _configs(*GPU_CHECK_CONFIGS)
    proc = subprocess.run([sys.executable, osp.join(TOOLS, 'gpu_check.py'), '--device', 'cpu',
                           '--quick', '--out', str(out), '--budget-s', '600',
                           '--configs', *configs],
                          env=subprocess_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / 'gpu_check.json').read_text())
    env = report['environment']
    assert env['device'] == 'cpu' and env['torch'] and env['mmcv_ops'] in (True, False)
    small = [osp.basename(c) for c in configs]
    rows = report['rows']
    assert [(r['config'], r['mode']) for r in rows] == [
        (c, m) for c in small for m in ('fp32', 'amp-bf16', 'channels-last')]
    for row in rows:
        assert row['ok'] is True and row['error'] is None, row
        assert math.isfinite(row['loss']) and row['step_ms'] > 0
    # The issue-22 checks: every method steps deterministically (bit-identical
    # twice; nothing is refused on the CPU), and the blocked DetConLoss keeps
    # less for the backward with the same value.
    checks = report['checks']
    deterministic = [c for c in checks if c['check'] == 'deterministic']
    assert [c['config'] for c in deterministic] == small
    assert all(c['ok'] and c['note'] == 'bit-identical' for c in deterministic), deterministic
    assert not [c for c in checks if c['check'] == 'host-syncs']  # CUDA only
    whole, blocked = [c for c in checks if c['check'] == 'detcon-loss-memory']
    assert (whole['block_images'], blocked['block_images']) == (None, 4)
    assert blocked['ok'] and blocked['same_loss'] and blocked['saved_mib'] < whole['saved_mib']
    assert blocked['less_memory'] and blocked['grad_max_diff'] <= 1e-4
    table = (out / 'gpu_check.md').read_text()
    assert '| config | mode | ok | loss | step ms | peak MiB | note |' in table
    assert '### Checks (issue 22)' in table
    assert table.count('| yes |') == len(rows) + len(checks)


def test_encoder_macs_count_the_neck_of_an_algorithm_that_puts_it_in_the_encoder():
    """MaskCo's MPH maps feature maps (``neck_in_encoder``): its MACs are part
    of the encoder's; an algorithm without the flag counts the backbone."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.analysis.benchmark import build_for_training, cpu_norms, encoder_macs
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'maskco', 'maskco_r18_1xb32-600i_synthetic.py'))
    cpu_norms(cfg.model)
    model, _ = build_for_training(cfg, 'cpu')
    assert type(model).neck_in_encoder is True
    with_neck = encoder_macs(model, 64)
    model.neck_in_encoder = False
    backbone_only = encoder_macs(model, 64)
    assert with_neck > backbone_only > 0
