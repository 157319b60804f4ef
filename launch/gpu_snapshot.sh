#!/usr/bin/env bash
# The Beauty GPU runs on a machine that has JAX with CUDA but no TensorFlow / seqio (e.g. a lent
# accelerator image): everything TF-bound was frozen beforehand on a CPU host.
#
#   on the CPU host:
#     bash launch/gpu_bundle.sh B      (data → build_ids → snapshot → train_batches.npz → raw files)
#     B/ = {snapshot/, data/amazon-2014-beauty/ (raw files), train_batches.npz}
#   on the GPU:
#     bash launch/gpu_snapshot.sh B OUT PHASE...    PHASE: setup | baselines | tiger | throughput | variants
#                                                          | collect | save_checkpoint | restore_checkpoint
# A TIGER run longer than one lease: save_checkpoint at the end of one, carry the parts back as
# B/tiger_checkpoint/ and restore_checkpoint before `tiger` in the next (training resumes there).
#
# Results stay in RUN_DIR (default /tmp/genrec_gpu); `collect` archives them into OUT.
# Env: TIGER_WALL_S (training seconds of this call; a rerun resumes from the checkpoint),
#      BASELINE_WALL_S (per-baseline cap), WHEELS (wheels the image lacks, default B/wheels:
#      gin-config; keep the image's flax 0.12.10 / optax / orbax, which match its jax 0.11.2:
#      flax 0.12.8 does not),
#      EVAL_LIMIT (first N test users only), MODELS / DTYPE (throughput rows; variants: unrolled vs
#      scanned train-step compile time and memory, MODELS default tiger,small).
set -euo pipefail
BUNDLE=${1:?bundle folder}; OUT=${2:?output folder}; shift 2
RUN=${RUN_DIR:-/tmp/genrec_gpu}
mkdir -p "$OUT" "$RUN"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.45}

WHEELS=${WHEELS:-$( [ -d "$BUNDLE/wheels" ] && echo "$BUNDLE/wheels" || true )}
SITE=/tmp/genrec_site  # the pinned pure-Python wheels, when WHEELS was given to `setup`
if [ -d "$SITE" ]; then export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"; fi

setup() {
  if [ -n "${WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  fi
  python3 -c "import jax, flax, optax, orbax.checkpoint as o, gin; print('jax', jax.__version__, 'flax',
flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__, jax.devices())"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
}

baselines() {  # SASRec CE then BCE, on the raw files (no TFDS), GPU budget
  python3 -m benchmarks.quality.run --dataset=amazon-2014-beauty --budget=gpu --genrec=skip \
    --baselines=sasrec_ce,sasrec_bce --raw_data_dir="$BUNDLE/data" --workdir="$RUN/quality" \
    --gin_bindings="TrainConfig.max_wall_s = ${BASELINE_WALL_S:-420}" > "$RUN/baselines.log" 2>&1
}

tiger() {  # train (resuming if this machine already holds a checkpoint), then evaluate the test split
  python3 -m genrec.snapshot.run --snapshot="$BUNDLE/snapshot" --workdir="$RUN/tiger" \
    --max_wall_s="${TIGER_WALL_S:-300}" --eval_batch_size=256 ${EVAL_LIMIT:+--max_eval_examples=$EVAL_LIMIT} \
    --tasks=genrec_amazon_2014_beauty_sequential 2>&1 | grep -v "checkpoint_manager\|orbax\|handler" \
    > "$RUN/tiger.log" || { tail -40 "$RUN/tiger.log"; return 1; }
  grep -E "step +[0-9]+|compiled|resumed" "$RUN/tiger.log" | tail -12
  head -8 "$RUN"/tiger/eval/results.md
}

throughput() {
  python3 -m benchmarks.train.throughput --batches "$BUNDLE/train_batches.npz" --models "${MODELS:-tiger,small,base}" \
    --dtype "${DTYPE:-float32}" --noreference --out "$RUN/throughput_${DTYPE:-float32}.json"
}

variants() {  # compile seconds, memory and step time: unrolled / scanned / scanned + remat (random batches)
  python3 -m benchmarks.train.variants --models "${MODELS:-tiger,small}" --batch_size 256 \
    --variants "scan_layers=False,remat=False" "scan_layers=True,remat=False" \
    "scan_layers=True,remat=True,remat_policy='weight_dots'" --out "$RUN/variants_layers.json"
}

collect() {  # everything but checkpoints, as one archive in OUT
  tar czf "$OUT/genrec_gpu.tgz" -C "$RUN" --exclude=checkpoints .
  ls -la "$OUT"; cat "$RUN"/quality/results.md 2>/dev/null | head -6 || true
}

save_checkpoint() {  # the newest TIGER checkpoint, in 15 MB parts (the device tool returns files <= 16 MiB)
  local step; step=$(ls "$RUN/tiger/checkpoints" | grep -E '^[0-9]+$' | sort -n | tail -1)
  tar cf - -C "$RUN/tiger" "checkpoints/$step" train_summary.json | split -b 15m - "$OUT/tiger_checkpoint.tar.part-"
  ls -la "$OUT"
}

restore_checkpoint() {  # the parts save_checkpoint wrote, carried back in BUNDLE/tiger_checkpoint/
  mkdir -p "$RUN/tiger"
  cat "$BUNDLE"/tiger_checkpoint/tiger_checkpoint.tar.part-* | tar xf - -C "$RUN/tiger"
  ls "$RUN/tiger/checkpoints"
}

for phase in "$@"; do
  echo "=== $phase $(date +%T)"
  "$phase"
done
