#!/usr/bin/env bash
# A short quality probe: train the recipe for STEPS steps from a prepared workdir's identifiers and
# print the validation line (every validation user, exact ranking) with the load before and after.
#   benchmarks/quality/probe.sh BASE NAME STEPS [GIN_BINDING ...]
# BASE holds semantic_ids/ from `--run_mode=build_ids` (its tfds data in BASE/../tfds); the probe
# trains in BASE/../probes/NAME. GIN_FILE picks the experiment (default: the Beauty recipe).
set -euo pipefail
base=$(realpath "$1"); name=$2; steps=$3; shift 3
repo=$(cd "$(dirname "$0")/../.." && pwd)
gin_file=${GIN_FILE:-$repo/configs/experiments/parallel_ids_beauty.gin}
work=$base/../probes/$name
mkdir -p "$work" && ln -sfn "$base/semantic_ids" "$work/semantic_ids"
bindings=(--gin_bindings="LoopConfig.num_steps = $steps" --gin_bindings="LoopConfig.checkpoint_every = $steps"
          --gin_bindings="LoopConfig.max_wall_s = 36000")
for b in "$@"; do bindings+=(--gin_bindings="$b"); done
echo "## $name: $steps steps $*"
echo "uptime before: $(uptime)"
"$repo/.venv/bin/python" -m genrec.main --run_mode=train --gin_file="$gin_file" --workdir="$work" \
    --data_dir="$base/../tfds" "${bindings[@]}" > "$work/train.log" 2>&1
grep -E "step $steps (validation|\|)" "$work/train.log" | sed 's/^.*\] //'
echo "uptime after: $(uptime)"
