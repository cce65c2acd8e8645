"""Pretraining needs no compiled mmcv op: every method's training step runs
with ``mmcv._ext`` (mmcv's compiled extension) unimportable.

Only mmdet/mmseg transfer needs mmcv's ops; the region pooling is
torchvision's. Run in a subprocess where ``mmcv._ext`` cannot be imported,
as in an mmcv built with ``MMCV_WITH_OPS=0``.
"""
import glob
import os.path as osp
import subprocess
import sys

from .conftest import REPO_ROOT

SCRIPT = r'''
import math, sys

# None in sys.modules: `import mmcv._ext` raises ImportError and
# importlib.util.find_spec finds nothing, as with an mmcv built without ops.
sys.modules['mmcv._ext'] = None
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmssl_ext import register_all_modules
from mmssl_ext.analysis.benchmark import build_for_training, cpu_norms, one_batch
register_all_modules(init_default_scope=False)
MessageHub.get_current_instance().update_info('max_iters', 10)
data_root, configs = sys.argv[1], sys.argv[2:]
for path in configs:
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmssl_ext'))
    cpu_norms(cfg.model)
    model, wrapper = build_for_training(cfg, 'cpu')
    log = model.train_step(one_batch(cfg, data_root, 4), wrapper)
    assert math.isfinite(float(log['loss'])), (path, log)
    print('STEP-OK', path.split('/')[-1], round(float(log['loss']), 4), flush=True)
try:
    import mmcv.ops  # noqa: F401
    print('mmcv.ops importable')
except ImportError:
    print('mmcv._ext was refused')
assert 'mmcv._ext' not in sys.modules or sys.modules['mmcv._ext'] is None
'''


def test_every_method_trains_a_step_without_mmcv_compiled_ops(synthetic_root, subprocess_env):
    configs = sorted(c for c in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
                     if c.endswith('_synthetic.py') and 'benchmarks' not in c)
    assert len(configs) >= 12
    out = subprocess.run([sys.executable, '-c', SCRIPT, synthetic_root, *configs],
                         env=subprocess_env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    steps = [line for line in out.stdout.splitlines() if line.startswith('STEP-OK ')]
    assert len(steps) == len(configs), out.stdout[-3000:]
    assert 'mmcv._ext was refused' in out.stdout  # the guard really was in place
