#!/usr/bin/env bash
# Create .venv and install the tested stack plus mmssl_ext (editable).
#
#   bash tools/install.sh            # what `make install` runs
#
# Idempotent: a stamp in .venv records the hash of the install inputs; when
# nothing changed the script returns at once. Environment knobs:
#   PYTHON=python3.11                  interpreter for the venv
#   VENV=.venv                         where the venv lives
#   MMSSL_WHEEL_CACHE=~/.cache/mmssl_ext/wheels   built wheels (mmcv) kept here
#   MMSSL_FORCE_INSTALL=1              ignore the stamp
#   MMSSL_MMCV_OPS=0                   pretraining only: mmcv without its compiled ops
#                                      (no 6-minute compilation; mmdet/mmseg transfer
#                                      and the full test suite need the ops)
#   MMSSL_MMCV_CUDA=auto|1|0           mmcv's ops with CUDA kernels: auto = when torch
#                                      sees a GPU (then nvcc is needed); 1 = always (set
#                                      TORCH_CUDA_ARCH_LIST without a GPU); 0 = CPU only
#   MMSSL_INSTALL_PLAN=1               print which mmcv would be built and where it is
#                                      cached, then stop (after steps 1-2)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
WHEEL_CACHE=${MMSSL_WHEEL_CACHE:-$HOME/.cache/mmssl_ext/wheels}
CONSTRAINTS="$ROOT/constraints.txt"
STAMP="$VENV/.mmssl_ext-install-stamp"

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[install] error:\033[0m %s\n' "$*" >&2; exit 1; }

MMCV_OPS=${MMSSL_MMCV_OPS:-1}
[[ "$MMCV_OPS" == 0 || "$MMCV_OPS" == 1 ]] || die "MMSSL_MMCV_OPS must be 0 or 1, not '$MMCV_OPS'"
MMCV_CUDA=${MMSSL_MMCV_CUDA:-auto}
[[ "$MMCV_CUDA" =~ ^(auto|0|1)$ ]] || die "MMSSL_MMCV_CUDA must be auto, 0 or 1, not '$MMCV_CUDA'"

inputs_hash() {  # the modes and the GPUs are inputs: a change reinstalls mmcv
    { cat "$0" constraints.txt setup.cfg setup.py; echo "mmcv-ops=$MMCV_OPS mmcv-cuda=$MMCV_CUDA"
      nvidia-smi -L 2>/dev/null || true; } | sha256sum | cut -c1-16
}

if [[ -f "$STAMP" && -z "${MMSSL_FORCE_INSTALL:-}${MMSSL_INSTALL_PLAN:-}" && "$(cat "$STAMP")" == "$(inputs_hash)" ]] \
        && [[ -e mmssl_ext/.mim/configs ]]; then
    say "up to date ($VENV); MMSSL_FORCE_INSTALL=1 to reinstall"
    exit 0
fi

# --- fail early and clearly -------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON not found: the tested stack needs Python 3.11 (set PYTHON=/path/to/python3.11)"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ "$PYVER" == "3.11" ]] \
    || die "$PYTHON is Python $PYVER; the tested stack (torch 2.13, mmcv 2.1.0 from source) needs 3.11"
for tool in gcc g++; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "$tool not found: mmcv 2.1.0 has no binary wheel and is compiled here (apt-get install build-essential)"
done
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || die "Python headers missing (apt-get install python3.11-dev)"

# The machine's pip config adds a folder with a CPU-only torch 2.13.0+cpu that
# pip would prefer, and with which torchvision 0.28 cannot import. Install from
# the registry only: no config file, no extra find-links or indexes.
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_INDEX
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
VENV_PY="$(cd "$VENV" && pwd)/bin/python"
PIP=("$VENV_PY" -m pip)
pip_install() { "${PIPS[@]}" install -c "$CONSTRAINTS" "$@"; }
PIPS=("${PIP[@]}")

if [[ -n "${MMSSL_INSTALL_PLAN:-}" ]]; then  # the plan reads the installed torch
    "$VENV_PY" -c 'import torch' 2>/dev/null || die "MMSSL_INSTALL_PLAN=1 needs $VENV with torch: make install first"
else
    say "step 1/5: build tools (pip<25 and setuptools>=77,<80, see constraints.txt)"
    pip_install -q "pip>=23,<25" "setuptools>=77,<80" wheel ninja

    say "step 2/5: torch 2.13.0 + torchvision 0.28.0 from the registry (a few GB the first time)"
    pip_install -q torch==2.13.0 torchvision==0.28.0
    "$VENV/bin/python" -c 'import torch, torchvision; print("[install]   torch", torch.__version__, "torchvision", torchvision.__version__)' \
        || die "torch/torchvision do not import together: is a CPU-only torch installed? (MMSSL_FORCE_INSTALL=1 after removing $VENV)"
fi

TORCH_VER=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
MMCV_CACHE="$WHEEL_CACHE/torch-$TORCH_VER-py$PYVER"
# mmcv's kernels for the GPUs here (mmdet/mmseg need them on CUDA tensors), or
# for the CPU. A CUDA build is cached under its CUDA version and architectures,
# so that machines sharing the cache never take the other kind of build; the
# CPU build keeps the plain name.
TORCH_CUDA=$("$VENV_PY" -c 'import torch; print(torch.version.cuda or "")')
GPU_ARCHS=$("$VENV_PY" -c 'import torch; print(";".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})) if torch.cuda.is_available() else "")' 2>/dev/null || true)
MMCV_BUILD_ENV=(CUDA_VISIBLE_DEVICES="")  # a CPU build, even beside a GPU
WANT_CUDA=0
if [[ "$MMCV_OPS" == 1 && ( "$MMCV_CUDA" == 1 || ( "$MMCV_CUDA" == auto && -n "$GPU_ARCHS" ) ) ]]; then
    [[ -n "$TORCH_CUDA" ]] || die "mmcv with CUDA kernels needs a CUDA build of torch; this one is $TORCH_VER for the CPU (or MMSSL_MMCV_CUDA=0)"
    ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$GPU_ARCHS}
    [[ -n "$ARCH_LIST" ]] || die "MMSSL_MMCV_CUDA=1 without a GPU: set TORCH_CUDA_ARCH_LIST (e.g. '8.0;9.0')"
    command -v nvcc >/dev/null 2>&1 || [[ -n "${MMSSL_INSTALL_PLAN:-}" ]] \
        || die "mmcv's CUDA kernels are compiled with nvcc, which is not on PATH: install the CUDA toolkit $TORCH_CUDA (torch's), or MMSSL_MMCV_CUDA=0 for CPU-only ops (no mmdet/mmseg on GPUs)"
    WANT_CUDA=1
    MMCV_CACHE="$MMCV_CACHE-cu${TORCH_CUDA//./}-sm$(echo "$ARCH_LIST" | tr -c '0-9\n' _)"
    MMCV_BUILD_ENV=(FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH_LIST")
fi
if [[ -n "${MMSSL_INSTALL_PLAN:-}" ]]; then
    if [[ "$MMCV_OPS" == 0 ]]; then say "plan: mmcv-lite 2.1.0 (no compiled ops)"
    elif [[ "$WANT_CUDA" == 1 ]]; then say "plan: mmcv 2.1.0 with CUDA $TORCH_CUDA kernels for sm $ARCH_LIST, cached in $MMCV_CACHE"
    else say "plan: mmcv 2.1.0 with CPU kernels, cached in $MMCV_CACHE"; fi
    [[ "$MMCV_OPS" == 0 ]] || say "plan: built with ${MMCV_BUILD_ENV[*]}"
    exit 0
fi
mkdir -p "$MMCV_CACHE"
# Whether the installed mmcv is the one wanted: 2.1.0 with ops, and with
# WANT_CUDA=1 CUDA kernels of torch's CUDA major version. mmcv reports the
# CUDA of the nvcc that compiled it, whose minor version may differ from
# torch's (torch's extension builder allows that, and so do we).
MMCV_MATCHES='
import os, mmcv, mmcv.ops, torch
assert mmcv.__version__ == "2.1.0", f"mmcv {mmcv.__version__}"
compiled, wanted = mmcv.ops.get_compiling_cuda_version(), torch.version.cuda or ""
if os.environ["WANT_CUDA"] == "1":
    assert compiled.split(".")[0] == wanted.split(".")[0], (
        f"mmcv ops compiled for CUDA {compiled!r}, torch has CUDA {wanted}")
'
mmcv_matches() { WANT_CUDA=$WANT_CUDA "$VENV_PY" -c "$MMCV_MATCHES" "$@"; }
if [[ "$MMCV_OPS" == 0 ]]; then
    # mmcv-lite: OpenMMLab's build of mmcv without its compiled ops (a pure
    # Python wheel, the same `mmcv` package). Both own the files of mmcv/, so
    # removing one deletes the other's: both go, then the one wanted comes.
    say "step 3/5: mmcv-lite 2.1.0 (MMSSL_MMCV_OPS=0: mmcv without compiled ops, pretraining only)"
    "${PIP[@]}" uninstall -q -y mmcv mmcv-lite >/dev/null 2>&1 || true
    pip_install -q mmcv-lite==2.1.0
elif ! mmcv_matches 2>/dev/null; then
    say "step 3/5: mmcv 2.1.0 with ops (built from source once, then from $WHEEL_CACHE)"
    WHEEL_DIR=$MMCV_CACHE
    if ! ls "$MMCV_CACHE"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
        say "  compiling mmcv 2.1.0 (about 6 minutes on 2 cores; cached afterwards)"
        # Built aside, and cached only once installed and checked: a wrong
        # build must not reach machines that share the cache.
        WHEEL_DIR=$(mktemp -d "$WHEEL_CACHE/.mmcv-build.XXXXXX")
        trap 'rm -rf "$WHEEL_DIR"' EXIT  # a failed build or check leaves nothing behind
        # -g0: no debug information. Python's own CFLAGS carry -g, and on torch's
        # template-heavy headers it is most of the work: on 2 cores the build
        # took 6m13s with -g0 against about 11 minutes with -g (2026-12-06),
        # and the wheel is 2 MB instead of 32. The code is the same (-O3 kept);
        # CFLAGS given to this script come after and win.
        env "${MMCV_BUILD_ENV[@]}" MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            CFLAGS="-g0${CFLAGS:+ $CFLAGS}" \
            "${PIP[@]}" wheel --no-build-isolation --no-deps mmcv==2.1.0 -w "$WHEEL_DIR"
    fi
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl | head -n1)
    "${PIP[@]}" uninstall -q -y mmcv mmcv-lite >/dev/null 2>&1 || true  # as above
    pip_install -q "$WHEEL"
    mmcv_matches || die "the mmcv wheel $WHEEL does not match this torch (above)$([[ "$WHEEL_DIR" == "$MMCV_CACHE" ]] && echo "; remove it from the cache and run again" || echo "; it was not cached")"
    [[ "$WHEEL_DIR" == "$MMCV_CACHE" ]] || mv "$WHEEL" "$MMCV_CACHE/"
else
    say "step 3/5: mmcv 2.1.0 with ops: installed"
fi

say "step 4/5: OpenMMLab libraries, scikit-image, test tools"
pip_install -q mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0 mmsegmentation==1.2.2 \
    scikit-image scikit-learn pytest hypothesis pytest-xdist pytest-timeout ftfy regex \
    flake8==7.5.0 isort==9.0.2  # mmseg imports ftfy/regex at import time; make lint: flake8, isort
# (scikit-learn: mmpretrain's vis_tsne, through tools/analysis_tools/mmpretrain_tool.py)
# openmim 0.3.9 depends on opendatalab -> openxlab, which pins setuptools~=60.2
# and so conflicts with torch's setuptools>=77. Those two only serve
# `mim download` of datasets from OpenDataLab; `mim train/test/run/search` do
# not import them. So install mim without its dependencies, then the ones it
# really imports.
pip_install -q --no-deps openmim==0.3.9
# pip's resolver then reports the missing opendatalab: expected, so filtered.
if ! out=$(pip_install -q click colorama model-index pandas requests rich tabulate 2>&1); then
    echo "$out" >&2
    die "installing mim's dependencies failed"
fi
grep -v -e 'requires opendatalab' -e 'dependency resolver does not currently' <<<"$out" || true

say "step 5/5: mmssl_ext (editable; setup.py links .mim/{configs,tools,model-index.yml})"
# `mim train mmssl_ext NAME` locates the package through pkg_resources'
# distribution location. A PEP 660 editable install puts the dist-info in
# site-packages, so mim looks for site-packages/mmssl_ext (absent) and cannot
# find configs or tools from outside the repo. The `setup.py develop` route
# (egg-link, location = this repo) works with mim; it needs pip < 25 and
# setuptools < 80 (pinned in constraints.txt).
# Without ops, --no-deps: our install_requires name mmcv, which pip would take
# for missing beside mmcv-lite and build (the steps above installed the rest).
pip_install -q --no-build-isolation --no-use-pep517 $([[ "$MMCV_OPS" == 0 ]] && echo --no-deps) -e .

# From outside the repo, as `mim train` is run by users.
(cd / && PYTHONWARNINGS=ignore MMSSL_MMCV_OPS="$MMCV_OPS" WANT_CUDA="$WANT_CUDA" "$VENV_PY" - <<'EOF') || die "the installed stack does not import; see the traceback above"
import os
import mmcv, mmengine, mmpretrain, mmdet, mmseg, skimage, mmssl_ext
import mmpretrain.models  # its import-time dependencies
from mmssl_ext import register_all_modules
register_all_modules(init_default_scope=False)  # every pretraining module imports
if os.environ['MMSSL_MMCV_OPS'] == '1':
    import mmcv.ops, mmdet.models, mmseg.models  # transfer: mmcv's compiled ops
    import torch
    compiled = mmcv.ops.get_compiling_cuda_version()
    if os.environ['WANT_CUDA'] == '1':  # a CPU-only build would fail on CUDA tensors in mmdet
        assert compiled.split('.')[0] == (torch.version.cuda or '').split('.')[0], (
            f'mmcv ops compiled for CUDA {compiled!r}, torch has CUDA {torch.version.cuda}')
    print('[install]   mmcv ops:', 'CPU only' if compiled == 'not available' else
          f'CUDA {compiled} kernels')
else:
    import importlib.util
    assert importlib.util.find_spec('mmcv._ext') is None, 'MMSSL_MMCV_OPS=0, yet mmcv has ops'
    print('[install]   mmcv without compiled ops: pretraining only (mmdet/mmseg transfer needs '
          'the ops: make install without MMSSL_MMCV_OPS=0)')
from mim.utils import get_installed_path
print('[install]   mmcv', mmcv.__version__, '| mmengine', mmengine.__version__,
      '| mmpretrain', mmpretrain.__version__, '| mmdet', mmdet.__version__,
      '| mmseg', mmseg.__version__, '| skimage', skimage.__version__,
      '| mmssl_ext', mmssl_ext.__version__)
root = get_installed_path('mmssl_ext')
assert os.path.isdir(os.path.join(root, '.mim', 'configs')), f'mim looks in {root}: no .mim/configs'
print('[install]   mim finds mmssl_ext configs in', os.path.join(root, '.mim', 'configs'))
EOF
"$VENV/bin/mim" --version >/dev/null || die "the mim CLI does not run"
inputs_hash > "$STAMP"
say "done: $VENV is ready"
