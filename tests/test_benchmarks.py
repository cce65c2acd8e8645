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
