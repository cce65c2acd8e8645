"""tools/install.sh's choice of mmcv build, and the cache name it goes under."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT

TORCH_PY = 'torch-2.13.0-py3.11'


def _plan(tmp_path, **env):
    run_env = dict(os.environ, MMSSL_INSTALL_PLAN='1', MMSSL_WHEEL_CACHE=str(tmp_path),
                   VENV=osp.dirname(osp.dirname(sys.executable)), **env)
    if 'TORCH_CUDA_ARCH_LIST' not in env:
        run_env.pop('TORCH_CUDA_ARCH_LIST', None)
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'install.sh')], env=run_env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_cpu_build_keeps_the_plain_cache_name(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU: auto builds the CUDA kernels here')
    code, out = _plan(tmp_path)
    assert code == 0 and f'with CPU kernels, cached in {tmp_path}/{TORCH_PY}\n' in out, out
    # No CUDA kernels, even beside a GPU.
    assert 'plan: built with CUDA_VISIBLE_DEVICES=\n' in out, out
    code, out = _plan(tmp_path, MMSSL_MMCV_OPS='0')
    assert code == 0 and 'plan: mmcv-lite 2.1.0' in out, out


def test_a_cuda_build_is_cached_under_its_cuda_version_and_architectures(tmp_path):
    import torch
    code, out = _plan(tmp_path, MMSSL_MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0;9.0')
    cuda = torch.version.cuda
    assert code == 0, out
    assert (f'with CUDA {cuda} kernels for sm 8.0;9.0, cached in '
            f'{tmp_path}/{TORCH_PY}-cu{cuda.replace(".", "")}-sm8_0_9_0\n') in out, out
    assert 'plan: built with FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=8.0;9.0\n' in out, out
    code, out = _plan(tmp_path, MMSSL_MMCV_CUDA='0')
    assert code == 0 and f'with CPU kernels, cached in {tmp_path}/{TORCH_PY}\n' in out, out


def test_the_cuda_choices_that_cannot_work_are_refused(tmp_path):
    import torch
    if not torch.cuda.is_available():
        code, out = _plan(tmp_path, MMSSL_MMCV_CUDA='1')
        assert code == 1 and 'set TORCH_CUDA_ARCH_LIST' in out, out
    code, out = _plan(tmp_path, MMSSL_MMCV_CUDA='yes')
    assert code == 1 and 'MMSSL_MMCV_CUDA must be auto, 0 or 1' in out, out


@pytest.mark.parametrize('compiled, torch_cuda, want_cuda, accepted', [
    ('13.1', '13.0', '1', True),  # nvcc's minor version may differ from torch's
    ('12.8', '13.0', '1', False),
    ('not available', '13.0', '1', False),  # a CPU build where CUDA kernels are wanted
    ('not available', None, '0', True)])
def test_the_installed_mmcv_is_checked_against_torchs_cuda(monkeypatch, compiled, torch_cuda,
                                                           want_cuda, accepted):
    """install.sh's MMCV_MATCHES, run after installing mmcv (a wheel that
    fails it is not cached) and to decide whether an installed one will do."""
    import re

    import mmcv.ops
    import torch
    script = open(osp.join(REPO_ROOT, 'tools', 'install.sh')).read()
    check = re.search(r"^MMCV_MATCHES='(.*?)'$", script, re.S | re.M).group(1)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: compiled)
    monkeypatch.setattr(torch.version, 'cuda', torch_cuda)
    monkeypatch.setenv('WANT_CUDA', want_cuda)
    if accepted:
        exec(check, {})
    else:
        with pytest.raises(AssertionError, match=f'mmcv ops compiled for CUDA {compiled!r}'):
            exec(check, {})
