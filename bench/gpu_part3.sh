#!/usr/bin/env bash
# Issue 19 part 3 on a GPU machine, in one call: the default, mixup (between the images of a batch,
# Beta(0.2, 0.2), half the batches) and the image branch at 64 px instead of 48, seeds 0-2, all
# nine runs trained at once by `blurfuse compare` and scored on dev (paired by seed, baseline the
# default trained in the same call). The mixup runs come back whole (for the test split on CPU if
# mixup wins on dev); the others as figures and logs (the 64 MiB return limit).
#
#   OUT=/tmp/gpu bash bench/gpu_part3.sh                         # on the GPU machine
#   OUT=/tmp/x DATA=data/fmnist-lt-blur-v1 DEVICE=cpu JOBS=3 SEEDS=1 \
#       SET="epochs=1 samples_per_epoch=256 head_epochs=1" bash bench/gpu_part3.sh   # a dry run on CPU
set -u
source "$(dirname "$0")/gpu_setup.sh" /tmp/part3
JOBS=${JOBS:-9}; DEVICE=${DEVICE:-cuda}; SEEDS=${SEEDS:-3}
SETS=(); for s in ${SET:-}; do SETS+=(--set "$s"); done
timeout -k 5 $(( $(left) - 30 )) $PY -m blurfuse.cli compare --data "$DATA" --out "$W/cmp" --device "$DEVICE" \
  --seeds "$SEEDS" --jobs "$JOBS" --variant default --variant "mixup:mix=mixup mix_alpha=0.2" \
  --variant "res64:input_size=64" "${SETS[@]}" --no-progress --force
echo "compare exit $?; $(left) s left"
cp "$W/cmp/compare.md" "$W/cmp/compare.json" "$W/cmp/runs.csv" "$OUT/" 2>/dev/null
for s in $(seq 0 $(( SEEDS - 1 ))); do
  run=$W/cmp/runs/mixup/seed$s
  [ -f "$run/RUN_COMPLETE.json" ] && tar cf "$OUT/mixup_seed$s.tar" -C "$W/cmp/runs/mixup" --exclude=resume "seed$s"
done
(cd "$W" && tar czf "$OUT/logs.tar.gz" cmp/runs/*/seed*/train.log cmp/runs/*/seed*/metrics.csv \
   cmp/runs/*/seed*/train_config.json 2>/dev/null)
ls -la "$OUT"
