#!/usr/bin/env bash
# The main job, end to end on one host: installs what is missing, then runs every stage on the
# embedded synthetic dataset (or the experiment given as $1):
#   data → stats → build_ids → train → eval → export → recommend
#   bash launch/local.sh [configs/experiments/quickstart.gin] [--gin.NAME=VALUE ...]
# Env: WORKDIR (default workdir/quickstart), DEVICES=N simulates N CPU devices (e.g. with
# --gin_file=configs/partitioning/fsdp_tp.gin), STAGES to run a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup_env.sh
GIN=${1:-configs/experiments/quickstart.gin}
shift || true
WORKDIR=${WORKDIR:-workdir/quickstart}
STAGES=${STAGES:-"data stats build_ids train eval export recommend"}
if [ -n "${DEVICES:-}" ]; then
  export XLA_FLAGS="--xla_force_host_platform_device_count=${DEVICES} ${XLA_FLAGS:-}"
fi
genrec() { .venv/bin/python -m genrec.main --gin_file="$GIN" --workdir="$WORKDIR" "$@"; }
for stage in $STAGES; do
  echo "=== genrec: $stage"
  case "$stage" in
    export) genrec --run_mode=export --bundle="$WORKDIR/bundle" "$@" ;;
    recommend)
      # Recommend from the exported bundle alone, for a sample history (three catalogue items).
      history=$(.venv/bin/python -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['source_ids'][:3]))" "$WORKDIR/bundle/items.json")
      genrec recommend --bundle="$WORKDIR/bundle" --history="$history" --top_k=5 "$@" ;;
    *) genrec --run_mode="$stage" "$@" ;;
  esac
done
