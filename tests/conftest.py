import os
import os.path as osp
import sys
from itertools import count

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL_CONFIG = osp.join(REPO_ROOT, 'configs', 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py')
# The small synthetic config of each of our methods (DiLo's on MoCo v2).
OUR_SYNTHETIC_CONFIGS = [
    'maskco/maskco_r18_1xb32-600i_synthetic.py',
    'detcon/detcon-s_r18_1xb32-600i_synthetic.py',
    'detcon/detcon-b_r18_1xb32-600i_synthetic.py',
    'ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py',
    'nnclr/nnclr_r18_1xb32-600i_synthetic.py',
    'dino/dino_r18_1xb32-600i_synthetic.py',
    'looc/looc_r18_1xb32-600i_synthetic.py',
    'dilo/dilo-mocov2_r18_1xb32-600i_synthetic.py',
]


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs a test process per core) each
    process gets its share of the cores for torch's intra-op threads: two
    processes each using every core would contend for them."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        import torch
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def config_with_options(config: str, options: list, work_dir=None):
    """``config`` with ``--cfg-options`` parsed exactly as tools/train.py parses
    them (mmengine's DictAction: list indices, types), and ``work_dir`` set."""
    import argparse

    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options'] + list(options)).cfg_options)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    return cfg


_RUNNER_SERIAL = count()  # of this test process: names never repeat in it


@pytest.fixture(autouse=True)
def _one_visualizer_per_runner(monkeypatch):
    """A fresh experiment name for every Runner a test builds in this process.

    mmengine names a Runner's logger and visualizer ``{config}_{timestamp}`` to
    the second, and hands an existing instance of that name to a new Runner:
    two Runners of one config built in the same second (the end of one test,
    the start of the next) would share a visualizer, and the second would log
    into the first's work dir.
    """
    from mmengine.runner import FlexibleRunner, Runner
    for runner_class in (Runner, FlexibleRunner):
        init = runner_class.__init__

        def named_init(self, *args, _init=init, **kwargs):
            if kwargs.get('experiment_name') is None:
                kwargs['experiment_name'] = f'test{next(_RUNNER_SERIAL)}'
            _init(self, *args, **kwargs)

        monkeypatch.setattr(runner_class, '__init__', named_init)


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A tiny synthetic scene dataset (same generator as the demo), made once."""
    from mmssl_ext.datasets.synthetic_scenes import SceneConfig, generate
    root = str(tmp_path_factory.mktemp('synthetic_scenes'))
    generate(root, SceneConfig(num_train=24, num_val=12, image_size=64), verbose=False)
    return root


@pytest.fixture(scope='session')
def small_run_options(synthetic_root):
    """--cfg-options that turn the small config into a seconds-long CPU run."""
    return [
        f'train_dataloader.dataset.data_root={synthetic_root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.queue_len=64', 'model.backbone.depth=18',
        'train_cfg.max_iters=4', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2',
    ]


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for tools run as subprocesses: this venv first on PATH."""
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['PYTHON'] = sys.executable
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@pytest.fixture(scope='session')
def fh_synthetic_root(synthetic_root) -> str:
    """``synthetic_root`` plus FH masks of its train images (scale 200), made
    by tools/dataset_converters/generate_fh_masks.py as a user would."""
    import importlib.util
    tool = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'generate_fh_masks.py')
    spec = importlib.util.spec_from_file_location('generate_fh_masks', tool)
    module = importlib.util.module_from_spec(spec)
    # Registered so that its worker function pickles for the process pool.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    status = module.main([osp.join(synthetic_root, 'images', 'train'),
                          osp.join(synthetic_root, 'fh_masks', 'train'), '--ann-file',
                          osp.join(synthetic_root, 'annotations', 'instances_train.json'),
                          '--scales', '200', '--nproc', '1'])
    assert status == 0
    return synthetic_root


@pytest.fixture(scope='session')
def pretrained_r18(tmp_path_factory, small_run_options) -> str:
    """A pretraining checkpoint (MoCo v2, ResNet-18, 2 iterations on the
    synthetic scenes) made by tools/train.py, for the transfer tests."""
    import subprocess
    work_dir = str(tmp_path_factory.mktemp('pretrained_r18'))
    options = [o for o in small_run_options if not o.startswith(('train_cfg', 'default_hooks'))]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), SMALL_CONFIG, '--work-dir',
         work_dir, '--cfg-options', *options, 'train_cfg.max_iters=2',
         'default_hooks.checkpoint.interval=2'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return osp.join(work_dir, 'iter_2.pth')


def free_port() -> str:
    """A TCP port no process listens on now, chosen by the OS, for a launch's
    rendezvous. Not ``random.randint``: the in-process Runners of the tests
    seed Python's ``random`` (seed 0), so two test processes drew the same
    port and one launch failed with EADDRINUSE."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return str(probe.getsockname()[1])


def run_mim_and_dist_train(config: str, options: list, tmp_path, env: dict,
                           mim: bool = True) -> None:
    """``mim train mmssl_ext <config name>`` from outside the repo (unless
    ``mim=False``), then ``tools/dist_train.sh <config> 2`` (2 gloo
    processes); both must write ``iter_2.pth`` (``options`` set a 2-iteration
    run). The mim launch is one kind of run, the same for every config (a name
    found in the package, our custom_imports from outside the repo): the
    mission config, DetCon-S (FH masks by absolute path) and ccMIM (a ViT)
    take it; every method takes the 2-process one, whose gathers are its own."""
    import subprocess
    if mim:
        _run_mim_train(config, options, tmp_path, env)
    env = dict(env, PORT=free_port())
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2',
                           '--work-dir', str(tmp_path / 'dist'), '--cfg-options'] + options,
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'GPU number: 2' in proc.stdout
    assert osp.isfile(tmp_path / 'dist' / 'iter_2.pth')


def _run_mim_train(config: str, options: list, tmp_path, env: dict) -> None:
    import subprocess
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run([mim, 'train', 'mmssl_ext', osp.basename(config), '--work-dir',
                           str(tmp_path / 'mim'), '--cfg-options'] + options,
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'we find the config file in codebase mmssl_ext' in proc.stdout
    assert osp.isfile(tmp_path / 'mim' / 'iter_2.pth')
