#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 PORT=29500 bash tools/dist_test.sh ...
# Works without CUDA too: processes then talk over gloo (tools/test.py sets it up).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# A missing, empty or broken input stops here, in one line, before any process starts.
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m mmssl_ext.utils.tool_errors dist_test.sh --config "$CONFIG" --checkpoint "$CHECKPOINT"

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
