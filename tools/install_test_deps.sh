#!/usr/bin/env bash
# What the test suite needs beyond .venv (`make test` runs this after the install):
# Debian's Slurm daemons and client, for tests/test_slurm.py, which starts a
# one-node cluster on this machine and runs tools/slurm_train.sh and slurm_test.sh.
# Installed with apt-get when missing (needs root); otherwise it says what to do
# and the Slurm test fails with the same advice.
set -euo pipefail
say() { printf '\033[1m[test deps]\033[0m %s\n' "$*"; }
missing=()
for tool in slurmctld slurmd srun sinfo; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
(( ${#missing[@]} == 0 )) && exit 0
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's slurmctld, slurmd and slurm-client (for tests/test_slurm.py)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client \
        >/tmp/mmssl_ext_apt_slurm.log 2>&1 || {
        apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q slurmctld slurmd slurm-client >/tmp/mmssl_ext_apt_slurm.log 2>&1
    } || say "apt-get could not install them (see /tmp/mmssl_ext_apt_slurm.log)"
else
    say "${missing[*]} not found: tests/test_slurm.py needs Slurm (as root: apt-get install slurmctld slurmd slurm-client)"
fi
