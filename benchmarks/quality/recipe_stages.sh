#!/bin/bash
# Runs the recipe's stages into WORKDIR, each timed by /usr/bin/time -v (time_<stage>.txt), with
# `uptime` before and after; benchmarks/quality/recipe_row.py turns the result into a row.
#   bash benchmarks/quality/recipe_stages.sh WORKDIR EXPERIMENT.gin [--gin_file=... --gin.X=...]
# STAGES (default "data build_ids train eval") picks the stages, e.g. STAGES="data build_ids train"
# for a validation-only run.
set -euo pipefail
workdir=$1
experiment=$2
shift 2
mkdir -p "$workdir"
uptime > "$workdir/uptime_before.txt"
for stage in ${STAGES:-data build_ids train eval}; do
  echo "== $stage $(date +%T)" >> "$workdir/stages.log"
  /usr/bin/time -v -o "$workdir/time_$stage.txt" python -m genrec.main --run_mode="$stage" \
    --gin_file="$experiment" "$@" --workdir="$workdir" > "$workdir/log_$stage.txt" 2>&1
done
echo "== done $(date +%T)" >> "$workdir/stages.log"
uptime > "$workdir/uptime_after.txt"
