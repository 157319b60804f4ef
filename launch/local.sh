#!/usr/bin/env bash
# The main job, end to end on one host: installs what is missing, then runs every stage on the
# embedded synthetic dataset (or the experiment given as $1):
#   data → stats → build_ids → train → eval → export → recommend [→ rl]
#   bash launch/local.sh [configs/experiments/quickstart.gin] [--gin.NAME=VALUE ...]
# Env: WORKDIR (default workdir/quickstart), DEVICES=N simulates N CPU devices (e.g. with
# --gin_file=configs/partitioning/fsdp_tp.gin), STAGES to run a subset. The optional stage `rl`
# (STAGES=rl after a main job, or appended to the list) fine-tunes the trained checkpoint with GRPO
# on an NDCG reward (configs/runs/rl.gin) into $WORKDIR/rl and evaluates it on test.
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
# TensorFlow's and XLA's CUDA probes print to stderr before any logging is configured; on a machine
# without GPUs they are noise, so the main job drops exactly those lines (everything else passes).
NOISE='^(WARNING: All log messages before absl::InitializeLog|[IWE]0000 .*(cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft|cuda_blas|computation_placer))'
genrec() { .venv/bin/python -m genrec.main --gin_file="$GIN" --workdir="$WORKDIR" "$@" 2> >(grep -v -E "$NOISE" >&2); }
for stage in $STAGES; do
  echo "=== genrec: $stage"
  case "$stage" in
    export) genrec --run_mode=export --bundle="$WORKDIR/bundle" "$@" ;;
    recommend)
      # Recommend from the exported bundle alone: for one sample history (three catalogue items),
      # then, batched, for a file of three users (JSON lines, as genrec/export/requests.py reads).
      .venv/bin/python - "$WORKDIR/bundle/items.json" "$WORKDIR/users.jsonl" <<'PY'
import json, sys
ids = json.load(open(sys.argv[1]))["source_ids"]
with open(sys.argv[2], "w") as f:
    for k in range(3):  # the first is the single call's request: no user named, same items
        f.write(json.dumps({"history": ids[3 * k:3 * k + 3]} | ({"user": f"demo_{k}"} if k else {})) + "\n")
PY
      history=$(head -1 "$WORKDIR/users.jsonl" | .venv/bin/python -c "import json,sys; print(','.join(json.load(sys.stdin)['history']))")
      genrec recommend --bundle="$WORKDIR/bundle" --history="$history" --top_k=5 "$@"
      genrec recommend --bundle="$WORKDIR/bundle" --histories="$WORKDIR/users.jsonl" \
        --output="$WORKDIR/recommendations.jsonl" --top_k=5 "$@"
      head -c 400 "$WORKDIR/recommendations.jsonl"; echo ;;
    rl)
      genrec --run_mode=rl --gin_file=configs/runs/rl.gin --workdir="$WORKDIR/rl" \
        --data_dir="$(dirname "$WORKDIR")/tfds" --gin.rl.init_from="'$WORKDIR/checkpoints'" \
        --gin.rl/LoopConfig.num_steps=100 --gin.rl/LoopConfig.checkpoint_every=50 "$@"
      genrec --run_mode=eval --workdir="$WORKDIR/rl" --data_dir="$(dirname "$WORKDIR")/tfds" \
        --checkpoint_dir="$WORKDIR/rl/checkpoints" "$@" ;;
    *) genrec --run_mode="$stage" "$@" ;;
  esac
done
