#!/usr/bin/env bash
# Builds the bundle that launch/gpu_snapshot.sh reads, on a CPU host with the full install:
#   TFDS data → semantic IDs (MiniLM + RQ-VAE, as the experiment says) → snapshot → throughput
#   batches → a copy of the raw dataset files (the GPU-side SASRec baselines parse them) → the
#   pinned gin-config wheel (accelerator images lack it; gpu_snapshot.sh `setup` installs it).
#   bash launch/gpu_bundle.sh BUNDLE [--gin.NAME=VALUE ...]
# Env: GIN (default configs/experiments/tiger_beauty.gin), WORKDIR (default workdir/gpu_bundle),
#      RAW_DATA_DIR (default ../shared/data), DATASET (default amazon-2014-beauty).
# Without build_ids the snapshot would name items with atomic identifiers, not the recipe's.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:?bundle folder}; shift
GIN=${GIN:-configs/experiments/tiger_beauty.gin}
WORKDIR=${WORKDIR:-workdir/gpu_bundle}
RAW=${RAW_DATA_DIR:-../shared/data}
DATASET=${DATASET:-amazon-2014-beauty}

bash launch/setup_env.sh
if ! .venv/bin/python -c "import sentence_transformers" 2>/dev/null; then
  .venv/bin/python -m pip install -q -e ".[test,embed]"  # MiniLM item-text embeddings
fi
WORKDIR="$WORKDIR" STAGES="data build_ids snapshot" bash launch/local.sh "$GIN" --raw_data_dir="$RAW" "$@"

mkdir -p "$BUNDLE/data"
rm -rf "$BUNDLE/snapshot" "$BUNDLE/data/$DATASET"
cp -r "$WORKDIR/snapshot" "$BUNDLE/snapshot"
cp -r "$RAW/$DATASET" "$BUNDLE/data/$DATASET"
.venv/bin/python -m benchmarks.train.throughput --save_batches "$BUNDLE/train_batches.npz" \
  --batch_size 256 --steps 30
gin_pin=$(grep -o '"gin-config==[^"]*"' setup.py | tr -d '"')
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d "$BUNDLE/wheels" "$gin_pin"
du -sh "$BUNDLE"/*; du -sh "$BUNDLE"
