#!/usr/bin/env bash
# Collect the wheels a bare GPU machine needs to pretrain with mmssl_ext and run
# tools/analysis_tools/gpu_check.py there: a machine with its own Python 3.12,
# torch (>= 2.4), torchvision, numpy, OpenCV, Pillow, scikit-image, matplotlib,
# rich, einops and pyyaml, and no package registry.
#
#   bash tools/misc/prepare_device_wheels.sh DIR      # here, with a registry
#
# DIR then holds mmengine, mmcv-lite (OpenMMLab's mmcv without its compiled
# ops: pretraining needs none, the region pooling is torchvision's), mmpretrain and their
# pure-Python or manylinux x86_64 dependencies for CPython 3.12: under 64 MiB.
# There (DIR and this repo copied over):
#
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site DIR/*.whl
#   PYTHONPATH=/tmp/site:$PWD python3 tools/analysis_tools/gpu_check.py --out OUT
#
# mmdet/mmseg transfer needs mmcv's compiled ops, built for that machine's torch:
# not collected here.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:?usage: bash tools/misc/prepare_device_wheels.sh DIR}
PYTHON=${PYTHON:-.venv/bin/python}
TARGET_PYTHON=${TARGET_PYTHON:-3.12}  # the device's Python (another, to rehearse here)
[[ -x "$PYTHON" ]] || { echo "prepare_device_wheels.sh: $PYTHON not found: run make install first (or set PYTHON)" >&2; exit 1; }
mkdir -p "$DIR"
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_INDEX
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

# The pinned OpenMMLab releases (constraints.txt) and what they import that the
# machine's image lacks; one version of each (two would stop the install).
WHEELS=(
    mmengine==0.10.7 mmpretrain==1.2.0 mmcv-lite==2.1.0
    addict==2.4.0 termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.9
    mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0
    importlib-metadata==10.2.0 pycocotools==2.0.11
)
PLATFORMS=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
        manylinux2014_x86_64 manylinux1_x86_64; do
    PLATFORMS+=(--platform "$tag")
done
echo "[wheels] downloading ${#WHEELS[@]} wheels for CPython $TARGET_PYTHON, manylinux x86_64 into $DIR"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$TARGET_PYTHON" \
    --implementation cp "${PLATFORMS[@]}" -d "$DIR" "${WHEELS[@]}"

total=$(du -cb "$DIR"/*.whl | tail -n1 | cut -f1)
echo "[wheels] $(ls "$DIR"/*.whl | wc -l) wheels, $((total / 1024 / 1024)) MiB in $DIR"
if (( total > 64 * 1024 * 1024 )); then
    echo "prepare_device_wheels.sh: over 64 MiB: more than a device call can carry" >&2
    exit 1
fi
