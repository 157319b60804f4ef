#!/usr/bin/env bash
# The main job, end to end on one host: installs what is missing, then runs every stage of the
# pipeline on the embedded synthetic dataset (or the experiment given as $1).
#   bash launch/local.sh [configs/experiments/quickstart.gin] [--gin.NAME=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup_env.sh
GIN=${1:-configs/experiments/quickstart.gin}
shift || true
WORKDIR=${WORKDIR:-workdir/quickstart}
run() { .venv/bin/python -m genrec.main --gin_file="$GIN" --workdir="$WORKDIR" "$@"; }
run --run_mode=data "$@"
run --run_mode=stats "$@"
