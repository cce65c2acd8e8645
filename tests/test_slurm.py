"""The Slurm launch path run for real: a one-node Slurm cluster on this machine
(Debian's slurmctld and slurmd, which tools/install_test_deps.sh installs),
then tools/slurm_train.sh and tools/slurm_test.sh with 2 tasks on gloo."""
import getpass
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import time

import pytest

from .conftest import REPO_ROOT, SMALL_CONFIG, free_port

EVAL_CONFIG = osp.join(REPO_ROOT, 'tests', 'data', 'eval_r18_synthetic_labels.py')
# Authentication off (auth/none, cred/none): one machine, one user, no munge
# key to manage; process tracking by process group, no cgroups (containers).
SLURM_CONF = '''ClusterName=mmssl
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/none
CredType=cred/none
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
'''


def _tail(path: str, lines: int = 15) -> str:
    return ''.join(open(path).readlines()[-lines:]) if osp.isfile(path) else '(no log)'


@pytest.fixture(scope='module')
def slurm_env(tmp_path_factory) -> dict:
    """SLURM_CONF of a running one-node cluster (partition ``debug``)."""
    missing = [t for t in ('slurmctld', 'slurmd', 'srun', 'sinfo') if shutil.which(t) is None]
    if missing:
        pytest.fail(f'{", ".join(missing)} not found: `make test` installs Debian\'s Slurm '
                    '(tools/install_test_deps.sh, as root: apt-get install slurmctld slurmd '
                    'slurm-client)')
    root = str(tmp_path_factory.mktemp('slurm'))
    for sub in ('state', 'spool'):
        os.makedirs(osp.join(root, sub))
    # slurmd listens on ctld_port + 1: a free port whose successor is free too is not
    # guaranteed, so each comes from the OS.
    ctld_port, d_port = int(free_port()), int(free_port())
    conf = osp.join(root, 'slurm.conf')
    host = socket.gethostname().split('.')[0]
    with open(conf, 'w') as f:
        f.write(SLURM_CONF.format(host=host, user=getpass.getuser(), ctld_port=ctld_port,
                                  d_port=d_port, root=root,
                                  cpus=os.cpu_count()))
    env = dict(os.environ, SLURM_CONF=conf)
    daemons = [subprocess.Popen([daemon, '-D', '-f', conf] + extra, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
               for daemon, extra in (('slurmctld', []), ('slurmd', ['-N', host]))]
    try:
        deadline, state = time.time() + 60, ''
        while time.time() < deadline and state != 'idle':
            if any(d.poll() is not None for d in daemons):
                break
            state = subprocess.run(['sinfo', '-h', '-o', '%T'], env=env, capture_output=True,
                                   text=True).stdout.strip()
            time.sleep(0.5)
        if state != 'idle':
            # The one reason to skip: the daemons themselves cannot run here.
            pytest.skip(f'the Slurm daemons did not start (node state {state!r}); slurmctld: '
                        f'{_tail(osp.join(root, "slurmctld.log"))} slurmd: '
                        f'{_tail(osp.join(root, "slurmd.log"))}')
        yield {'SLURM_CONF': conf}
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()


def _slurm(script: str, args: list, env: dict) -> str:
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', script)] + args, env=env,
                          cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout


@pytest.mark.slow
def test_slurm_train_and_test_run_two_tasks_on_gloo(slurm_env, tmp_path, small_run_options,
                                                    synthetic_root, subprocess_env):
    """srun starts 2 tasks; each trains as one rank of a gloo group (mmengine's
    slurm launcher reading SLURM_PROCID/SLURM_NTASKS), rank 0 writes the
    checkpoints; slurm_test.sh then evaluates the checkpoint with 2 tasks.
    ``GRES=`` asks for no GPUs (a CPU partition)."""
    env = dict(subprocess_env, **slurm_env, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1',
               GRES='', PYTHON=sys.executable, MASTER_PORT=free_port())
    work_dir = str(tmp_path / 'train')
    out = _slurm('slurm_train.sh', ['debug', 'mmssl-train', SMALL_CONFIG, work_dir,
                                    '--cfg-options'] + small_run_options, env)
    assert 'Distributed launcher: slurm' in out and 'GPU number: 2' in out
    assert "type='mmssl_ext.CPUDistributedDataParallel'" in out
    assert out.count('Iter(train) [4/4]') == 1  # rank 0 logs
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))

    metrics = str(tmp_path / 'metrics.json')
    env['MASTER_PORT'] = str(int(env['MASTER_PORT']) + 1)
    out = _slurm('slurm_test.sh', ['debug', 'mmssl-test', EVAL_CONFIG,
                                   osp.join(work_dir, 'iter_4.pth'), '--work-dir',
                                   str(tmp_path / 'test'), '--out', metrics, '--cfg-options',
                                   f'test_dataloader.dataset.data_root={synthetic_root}'], env)
    assert 'Distributed launcher: slurm' in out and 'GPU number: 2' in out
    assert 0.0 <= json.load(open(metrics))['accuracy/top1'] <= 100.0
