#!/usr/bin/env bash
# classification benchmark from a pretrained checkpoint, with mmpretrain's own train.py:
#   bash tools/benchmarks/classification/mim_dist_train.sh CONFIG PRETRAIN GPUS [args...]
# GPUS=1: one process; more: torchrun. See tools/benchmarks/mim_train.sh.
exec bash "$(dirname "$0")/../mim_train.sh" mmpretrain "$@"
