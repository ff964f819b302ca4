#!/usr/bin/env bash
# The class-balanced comparison (bench/bench_class_balanced.py) on a GPU machine, in one call:
# FMNIST-LT-Blur v1, the default and drw_cb trained over 3 seeds, the default runs' classifiers
# re-trained (cRT, LWS, tau-norm), all scored on dev, the rule's choice scored on test once.
#
#   OUT=/tmp/gpu bash bench/gpu_class_balanced.sh        # on the GPU machine (see docs/RESULTS.md)
#
# Needs what bench/gpu_setup.sh names.
set -u
BUDGET_S=${BUDGET_S:-600}
source "$(dirname "$0")/gpu_setup.sh" /tmp/cb
JOBS=${JOBS:-6}
START=$(date +%s)
$PY bench/bench_class_balanced.py --data "$DATA" --out $W/cb --seeds 3 --device cuda --jobs $JOBS \
  --time-budget-s ${TRAIN_BUDGET_S:-330} --score-test
echo "done in $(( $(date +%s) - START )) s"
cp $W/cb/class_balanced.md $W/cb/class_balanced.json "$OUT/"
cp $W/cb/trained/compare.md "$OUT/trained_compare.md"
for s in 0 1 2; do cp $W/cb/trained/runs/default/seed$s/train.log "$OUT/default_seed$s.log" 2>/dev/null; done
