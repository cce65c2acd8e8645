#!/usr/bin/env bash
# mmsegmentation benchmark from a pretrained checkpoint, with mmsegmentation's own train.py:
#   bash tools/benchmarks/mmsegmentation/mim_dist_train.sh CONFIG PRETRAIN GPUS [args...]
# GPUS=1: one process; more: torchrun. See tools/benchmarks/mim_train.sh.
exec bash "$(dirname "$0")/../mim_train.sh" mmsegmentation "$@"
