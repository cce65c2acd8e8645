"""mmpretrain's analysis tools, unchanged, on our configs, logs and checkpoints
(through tools/analysis_tools/mmpretrain_tool.py, or mim as they are)."""
import glob
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from .conftest import REPO_ROOT

WRAPPER = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'mmpretrain_tool.py')
CONFIGS = {method: osp.join(REPO_ROOT, 'configs', path) for method, path in {
    'maskco': 'maskco/maskco_r18_1xb32-600i_synthetic.py',
    'detcon-b': 'detcon/detcon-b_r18_1xb32-600i_synthetic.py',
    'dino': 'dino/dino_r18_1xb32-600i_synthetic.py',
    'ccmim': 'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py',
}.items()}
LINEAR = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'classification',
                  'resnet18-conv5_1xb32-linear-20i_synthetic.py')


def _run(args, env, cwd, timeout=600):
    proc = subprocess.run([sys.executable, WRAPPER, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _checkpoint(config: str, path: str, seed: int = 0) -> str:
    """A checkpoint of the config's whole model, as a pretraining run saves it."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path


@pytest.mark.parametrize('method', ['maskco', 'ccmim'])
def test_get_flops_counts_the_backbone_of_our_models(method, tmp_path, subprocess_env):
    proc = _run(['get_flops', CONFIGS[method], '--shape', '64'], subprocess_env, REPO_ROOT)
    flops = [line for line in proc.stdout.splitlines() if line.startswith('Flops:')]
    assert flops, proc.stdout[-2000:]
    # mmpretrain counts model.extract_feat = the backbone: for a ResNet-18 at
    # 64 px, mmengine's own count of the backbone alone
    from mmengine.analysis import get_model_complexity_info
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmssl_ext.registry import MODELS
    init_default_scope('mmssl_ext')
    model = MODELS.build(Config.fromfile(CONFIGS[method]).model)
    model.eval()  # as get_flops does
    model.forward = model.extract_feat
    expected = get_model_complexity_info(model, (3, 64, 64))['flops_str']
    assert flops[0].split(':', 1)[1].strip() == expected


@pytest.mark.slow
def test_vis_tsne_on_a_checkpoint_of_each_kind(synthetic_root, tmp_path, subprocess_env):
    """MaskCo's and DetCon_B's backbones, DINO's teacher (extracted first, as
    its paper evaluates it) and ccMIM's ViT: t-SNE of the labelled val
    scenes, features and a picture per stage."""
    extract = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_backbone.py')
    # the linear config reads data/synthetic_scenes/ (val.txt, labelled) from the cwd
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'synthetic_scenes').symlink_to(synthetic_root)
    test_cfg = ['--test-cfg', LINEAR]
    for method in ('maskco', 'detcon-b', 'dino', 'ccmim'):
        checkpoint = _checkpoint(CONFIGS[method], str(tmp_path / f'{method}.pth'))
        if method == 'dino':
            teacher = str(tmp_path / 'dino_teacher.pth')
            proc = subprocess.run([sys.executable, extract, checkpoint, teacher],
                                  env=subprocess_env, capture_output=True, text=True,
                                  timeout=300)
            assert proc.returncode == 0, proc.stderr[-2000:]
            checkpoint = teacher
        work_dir = tmp_path / f'tsne_{method}'
        args = ['vis_tsne', CONFIGS[method], '--checkpoint', checkpoint, '--work-dir',
                str(work_dir), '--max-num-samples', '8', '--perplexity', '5', '--n-iter', '250',
                *test_cfg]
        _run(args, subprocess_env, str(tmp_path))
        features = glob.glob(str(work_dir / 'tsne_*' / 'feat_*.npy'))
        pictures = glob.glob(str(work_dir / 'tsne_*' / 'feat_*.png'))
        assert features and pictures, (method, list(work_dir.rglob('*')))
        # the features t-SNE embedded: up to 8 labelled val scenes per class
        labels = [line.split()[1] for line in open(osp.join(synthetic_root, 'val.txt'))
                  if line.strip()]
        expected = sum(min(labels.count(c), 8) for c in set(labels))
        extracted = np.load(features[0])
        assert extracted.ndim == 2 and len(extracted) == expected, (method, extracted.shape)
        assert np.isfinite(extracted).all() and extracted.std() > 0
        assert open(pictures[0], 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_vis_scheduler_draws_our_schedule(tmp_path, subprocess_env):
    out = tmp_path / 'lr.png'
    _run(['vis_scheduler', CONFIGS['maskco'], '-d', '64', '--not-show', '-s', str(out),
          '--cfg-options', 'train_cfg.max_iters=20'], subprocess_env, str(tmp_path))
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_analyze_logs_reads_our_run_logs(tmp_path, subprocess_env):
    """mmpretrain's analyze_logs as the docs run it, through mim, with no
    wrapper: our logs are mmengine's scalars.json records."""
    log = tmp_path / 'scalars.json'
    log.write_text('\n'.join(json.dumps(dict(lr=0.03, data_time=0.01, loss=5.0 - i / 10,
                                             time=0.3, iter=i, step=i)) for i in range(1, 13)))
    out = tmp_path / 'loss.png'
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run([mim, 'run', 'mmpretrain', 'analyze_logs', 'plot_curve', str(log),
                           '--keys', 'loss', '--out', str(out)],
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_the_wrapper_refuses_tools_it_does_not_run(tmp_path, subprocess_env):
    proc = subprocess.run([sys.executable, WRAPPER, 'analyze_logs', 'x.json'],
                          env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and 'mim run mmpretrain analyze_logs' in proc.stderr
    # mmpretrain 1.2.0's browse_dataset calls a private matplotlib function whose
    # signature changed: it fails on its own configs too; ours draw the views
    proc = subprocess.run([sys.executable, WRAPPER, 'browse_dataset', CONFIGS['maskco']],
                          env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and 'browse_maskco.py' in proc.stderr
