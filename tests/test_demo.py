"""The README's demo, end to end on a tiny budget: its runs (DenseCL's
added), both probes' tables, the figures, --reuse and its seed guard."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT


@pytest.mark.slow
def test_demo_pretrains_each_method_and_probes_them(tmp_path, subprocess_env):
    data_root, work_dir = str(tmp_path / 'scenes'), str(tmp_path / 'demo')
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'misc', 'demo.py'), '--data-root',
           data_root, '--num-train', '24', '--num-val', '12', '--work-dir', work_dir,
           '--iters', '2', '--probe-size', '32', '--with-densecl']
    proc = subprocess.run(cmd + ['--as-built-row'], cwd=str(tmp_path), env=subprocess_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    names = ('mocov2_r18_1xb32-600i_synthetic', 'maskco_r18_1xb32-600i_synthetic',
             'densecl_r18_1xb32-600i_synthetic')
    for name in names:
        assert osp.isfile(osp.join(work_dir, name, 'iter_2.pth'))
        assert f'{name}: loss over 1..2 it' in out
        assert f'pretrain {name}: 2 iterations of batch 32, seed 0' in out
    crop_part, dense_part = out.split('dense probe: a linear classifier per feature cell')

    def table(text):
        return [line for line in text.splitlines()
                if line.startswith(('random init', 'mocov2', 'maskco', 'densecl'))
                and ' conv' in line]  # not the lines of the config dumps

    rows = table(crop_part)
    # 5 backbones (random init as built and with re-estimated BatchNorm
    # statistics, 3 pretrained) x 2 stages, then 3 gains over random init and
    # 2 over the baseline, x 2 stages.
    assert len(rows) == 10 + 10, out
    # the dense probe: no as-built row; 4 backbones x 2 stages, the same gains
    dense_rows = table(dense_part)
    assert len(dense_rows) == 8 + 10, out
    results = json.loads(open(osp.join(work_dir, 'probe_results.json')).read())
    maskco, mocov2 = 'maskco_r18_1xb32-600i_synthetic', 'mocov2_r18_1xb32-600i_synthetic'
    assert list(results['dense']) == ['random init', mocov2, maskco, names[2]]
    for stages in results['dense'].values():
        assert stages['conv4']['grid'] == [8, 8] and stages['conv5']['grid'] == [4, 4]  # 128 px
        assert all(0 <= s['miou'] <= 100 for s in stages.values())
    gain = results['dense'][maskco]['conv5']['miou'] - results['dense']['random init'][
        'conv5']['miou']
    # the printed gain is the difference of the two rows' figures
    row, = [r.split() for r in dense_rows if r.startswith(f'{maskco} - random init')
            and r.split()[4] == 'conv5']
    assert row[5] == f'{gain:+.1f}%', row
    for figure in ('loss_curves.png', 'crop_probe.png', 'dense_probe.png'):
        path = osp.join(work_dir, 'figures', figure)
        assert osp.getsize(path) > 1000 and f'figure: {path}' in out
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    assert sum(r.startswith('random init, BN stats 0/1') for r in rows) == 2
    assert 'BatchNorm statistics of every backbone were re-estimated' in out
    assert any(r.startswith('maskco_r18_1xb32-600i_synthetic - mocov2') for r in rows)
    assert any(r.startswith('densecl_r18_1xb32-600i_synthetic - mocov2') for r in rows)

    # --reuse probes the finished runs without training again; without
    # --as-built-row the reference row is gone.
    proc = subprocess.run(cmd + ['--reuse', '--dense-scenes', '0', '0'], cwd=str(tmp_path),
                          env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('--reuse: the finished run') == 3
    assert 'random init, BN stats 0/1' not in proc.stdout
    assert len(table(proc.stdout)) == 8 + 10 and 'dense probe' not in proc.stdout
    # ... but not a run of another seed
    proc = subprocess.run(cmd + ['--reuse', '--seed', '1'], cwd=str(tmp_path),
                          env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert 'was trained with seed 0, not 1: give this seed its own --work-dir' in proc.stderr


def test_demo_refuses_configs_of_different_backbone_architectures(tmp_path, subprocess_env):
    # Init-only keys (zero_init_residual: SimCLR's and DetCon's configs) may
    # differ, the architecture may not: a ViT is not probed beside a ResNet.
    configs = osp.join(REPO_ROOT, 'configs')
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'misc', 'demo.py'),
           '--data-root', str(tmp_path / 'scenes'), '--num-train', '8', '--num-val', '4',
           '--work-dir', str(tmp_path / 'demo'), '--configs',
           osp.join(configs, 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py'),
           osp.join(configs, 'mae', 'mae_vit-tiny-p8_1xb32-600i_synthetic.py')]
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=subprocess_env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1
    assert '--configs must share one backbone architecture' in proc.stderr
    assert not (tmp_path / 'demo').exists()  # refused before any training


def _demo_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'demo', osp.join(REPO_ROOT, 'tools', 'misc', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_with_densecl_adds_densecl_once_when_the_configs_name_it(tmp_path, monkeypatch):
    """The runs are named by file name: DenseCL's config given in --configs by
    another path is not added a second time (the two would share a work dir).
    The end-to-end run of --with-densecl is the first test's."""
    demo = _demo_module()
    configs = osp.join(REPO_ROOT, 'configs')
    mocov2 = osp.join(configs, 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py')
    densecl = osp.join(configs, 'densecl', 'densecl_r18_1xb32-600i_synthetic.py')
    assert osp.samefile(demo.DENSECL_CONFIG, densecl)
    monkeypatch.chdir(tmp_path)
    by_other_path = osp.relpath(densecl, str(tmp_path))
    assert demo.configs_to_run([mocov2, by_other_path], True) == [mocov2, by_other_path]
    assert demo.configs_to_run([mocov2], True) == [mocov2, demo.DENSECL_CONFIG]
    # without the flag, as given
    assert demo.configs_to_run([mocov2], False) == [mocov2]
    assert demo.configs_to_run(demo.DEFAULT_CONFIGS, True)[:2] == demo.DEFAULT_CONFIGS


def test_demo_trains_300_iterations_by_default_and_refuses_fewer_than_one(capsys):
    demo = _demo_module()
    assert demo.parse_args([]).iters == demo.DEMO_ITERS == 300
    assert demo.parse_args(['--iters', '600']).iters == 600
    for bad in ('0', '-5'):
        with pytest.raises(SystemExit):
            demo.parse_args(['--iters', bad])
        assert f'--iters must be at least 1, not {bad}' in capsys.readouterr().err
