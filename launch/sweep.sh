#!/usr/bin/env bash
# A sweep: every grid point of a sweep file run here in sequence (resumable), then REPORT.md; or,
# with --launcher=tpu|slurm, one launch command per point written to <sweep_dir>/launch_<launcher>.sh.
#   bash launch/sweep.sh configs/experiments/sweep_model_sizes.gin sweeps/model_sizes [--dry_run]
#   bash launch/sweep.sh SWEEP_FILE gs://BUCKET/sweeps/x --launcher=tpu \
#       --launcher_args="--zone=us-central2-b --accelerator_type=v4-32"
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bash launch/sweep.sh SWEEP_FILE SWEEP_DIR [runner flags]" >&2; exit 2; }
bash launch/setup_env.sh
exec .venv/bin/python -m genrec.sweep.run --sweep="$1" --sweep_dir="$2" "${@:3}"
