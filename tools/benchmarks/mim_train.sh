#!/usr/bin/env bash
# Fine-tune or evaluate a pretrained backbone with a downstream library's own
# train.py, through mim; the pretrained checkpoint is given once.
#
#   bash tools/benchmarks/mim_train.sh PACKAGE CONFIG PRETRAIN GPUS [extra args...]
#   PARTITION=p bash tools/benchmarks/mim_train.sh PACKAGE CONFIG PRETRAIN GPUS  # Slurm
#
# PACKAGE: mmdet, mmsegmentation or mmpretrain. GPUS=1 runs one process
# (launcher none); more use torchrun (launcher pytorch), or Slurm when
# PARTITION is set (GPUS_PER_NODE, default 8; SRUN_ARGS passed to srun).
# The checkpoint goes to model.backbone.init_cfg.checkpoint; CHECKPOINT_KEYS
# lists more keys that need it (the C4 shared head). Work dir: WORK_DIR, by
# default work_dirs/benchmarks/<package>/<config name>. A DINO checkpoint
# gives its teacher's backbone (what the paper evaluates); STUDENT=1 the student's.
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
PACKAGE=$1; CFG=$2; PRETRAIN=$3; GPUS=$4; shift 4
if [ ! -f "$PRETRAIN" ]; then
    echo "mim_train.sh: $PRETRAIN: no such checkpoint. Fix: give the pretraining checkpoint" \
         "(a work dir's iter_N.pth, or a backbone from tools/model_converters/extract_backbone.py)" >&2
    exit 2
fi
NAME=$(basename "$CFG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/benchmarks/$PACKAGE/$NAME}
KEYS="model.backbone.init_cfg.checkpoint ${CHECKPOINT_KEYS:-}"
OPTIONS=()
for key in $KEYS; do
    OPTIONS+=("$key=$PRETRAIN")
    if [ "${STUDENT:-0}" = 1 ]; then OPTIONS+=("${key%.checkpoint}.prefer_teacher=False"); fi
done
MIM=${MIM:-mim}
if ! command -v "$MIM" > /dev/null; then
    echo "mim_train.sh: '$MIM' not found: activate the environment (source .venv/bin/activate)" >&2
    exit 2
fi
if [ -n "${PARTITION:-}" ]; then
    LAUNCH=(--launcher slurm --gpus "$GPUS" --gpus-per-node "${GPUS_PER_NODE:-8}"
            --partition "$PARTITION" --srun-args "${SRUN_ARGS:-}")
elif [ "$GPUS" -gt 1 ]; then
    LAUNCH=(--launcher pytorch -G "$GPUS")
else
    LAUNCH=()
fi
# extra args may hold their own --cfg-options: mim passes the last one on, so
# the checkpoint keys are appended to it
EXTRA=("$@")
for i in "${!EXTRA[@]}"; do
    if [ "${EXTRA[$i]}" = "--cfg-options" ]; then
        set -x
        exec "$MIM" train "$PACKAGE" "$CFG" "${LAUNCH[@]}" --work-dir "$WORK_DIR" \
            "${EXTRA[@]:0:$((i + 1))}" "${OPTIONS[@]}" "${EXTRA[@]:$((i + 1))}"
    fi
done
set -x
exec "$MIM" train "$PACKAGE" "$CFG" "${LAUNCH[@]}" --work-dir "$WORK_DIR" "${EXTRA[@]}" \
    --cfg-options "${OPTIONS[@]}"
