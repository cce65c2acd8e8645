#!/usr/bin/env bash
# mmdetection benchmark from a pretrained checkpoint on Slurm:
#   bash tools/benchmarks/mmdetection/mim_slurm_train.sh PARTITION CONFIG PRETRAIN GPUS [args...]
# GPUS_PER_NODE (default 8), SRUN_ARGS. See tools/benchmarks/mim_train.sh.
PARTITION=$1; shift
PARTITION=$PARTITION exec bash "$(dirname "$0")/../mim_train.sh" mmdet "$@"
