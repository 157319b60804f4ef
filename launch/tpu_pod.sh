#!/usr/bin/env bash
# One genrec run on a Cloud TPU VM slice: create it, ship this commit's code to every host, run each
# run mode on every host with the same gin files (jax.distributed.initialize() finds the slice's
# hosts by itself), keep data, checkpoints and logs in a Cloud Storage bucket, delete the slice.
#
#   bash launch/tpu_pod.sh --name=genrec-tiger --zone=us-central2-b --accelerator_type=v4-32 \
#       --workdir=gs://BUCKET/runs/tiger_beauty [--data_dir=gs://BUCKET/tfds] \
#       [--run_modes=data,build_ids,train,eval] [--project=P] [--version=tpu-ubuntu2204-base] \
#       [--spot] [--keep] [--dry_run] -- --gin_file=configs/experiments/tiger_beauty.gin [--gin.X=Y ...]
#
# The bucket is mounted with Cloud Storage FUSE at /gcs/BUCKET on every host, so genrec reads and
# writes plain paths there (--workdir=gs://B/p runs with --workdir=/gcs/B/p). Run modes that write
# shared artifacts from one process (data, build_ids, export) run on worker 0 only; train and eval
# run on all workers. Logs: <workdir>/logs/<run_mode>.<host>.log. Raw data: pass
# --raw_data_dir=/gcs/BUCKET/raw after `--`. --dry_run prints every command and runs none.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="" ZONE="" TYPE="" WORKDIR="" DATA_DIR="" PROJECT="" SPOT=0 KEEP=0 DRY=0
VERSION=tpu-ubuntu2204-base
RUN_MODES=data,build_ids,train,eval
ALL_WORKER_MODES=" train eval "
GENREC_ARGS=()
die() { echo "tpu_pod.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --name=*) NAME=${1#*=} ;;
    --zone=*) ZONE=${1#*=} ;;
    --accelerator_type=*) TYPE=${1#*=} ;;
    --version=*) VERSION=${1#*=} ;;
    --project=*) PROJECT=${1#*=} ;;
    --workdir=*) WORKDIR=${1#*=} ;;
    --data_dir=*) DATA_DIR=${1#*=} ;;
    --run_modes=*) RUN_MODES=${1#*=} ;;
    --spot) SPOT=1 ;;
    --keep) KEEP=1 ;;
    --dry_run) DRY=1 ;;
    --) shift; GENREC_ARGS=("$@"); break ;;
    *) die "unknown argument $1 (genrec arguments go after --)" ;;
  esac
  shift
done
[ -n "$NAME" ] || die "--name is required"
[ -n "$ZONE" ] || die "--zone is required"
[ -n "$TYPE" ] || die "--accelerator_type is required (e.g. v4-32, v5litepod-16)"
case "$WORKDIR" in gs://*/*) ;; *) die "--workdir must be a bucket path gs://BUCKET/PATH, got '$WORKDIR'" ;; esac
case "$DATA_DIR" in ""|gs://*/*) ;; *) die "--data_dir must be a bucket path gs://BUCKET/PATH" ;; esac

BUCKET=${WORKDIR#gs://}; BUCKET=${BUCKET%%/*}
mounted() { echo "/gcs/${1#gs://}"; }  # gs://B/p -> /gcs/B/p
REMOTE_WORKDIR=$(mounted "$WORKDIR")
REMOTE_DATA_DIR=$(mounted "${DATA_DIR:-${WORKDIR%/*}/tfds}")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
TARBALL=/tmp/genrec-$NAME.tar.gz

quoted() {  # the arguments as one shell line; an argument is single-quoted where it needs it
  local out=() arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=("$arg"); else out+=("${arg@Q}"); fi
  done
  echo "${out[*]}"
}
run() { quoted "$@"; [ "$DRY" = 1 ] || "$@"; }  # prints the exact command; runs it unless --dry_run
SCOPE=(--zone="$ZONE")
[ -z "$PROJECT" ] || SCOPE+=(--project="$PROJECT")
gcloud_tpu() { run gcloud compute tpus tpu-vm "$1" "$NAME" "${SCOPE[@]}" "${@:2}"; }

create_flags=(--accelerator-type="$TYPE" --version="$VERSION")
[ "$SPOT" = 0 ] || create_flags+=(--spot)
echo "# genrec $COMMIT on $TYPE ($NAME, $ZONE): $RUN_MODES -> $WORKDIR"
gcloud_tpu create "${create_flags[@]}"
if [ "$KEEP" = 0 ]; then
  trap 'gcloud_tpu delete --quiet' EXIT
fi

# The code of this commit, the same on every host; gcsfuse mount of the bucket; genrec[tpu] in a
# Python 3.11 venv (uv fetches 3.11 where the image has an older Python).
run git archive --format=tar.gz -o "$TARBALL" HEAD
run gcloud compute tpus tpu-vm scp "$TARBALL" "$NAME:genrec.tar.gz" --worker=all "${SCOPE[@]}"
SETUP="set -euo pipefail; mkdir -p ~/genrec && tar xzf ~/genrec.tar.gz -C ~/genrec; \
if ! command -v gcsfuse >/dev/null; then \
echo \"deb https://packages.cloud.google.com/apt gcsfuse-\$(lsb_release -cs) main\" | sudo tee /etc/apt/sources.list.d/gcsfuse.list; \
curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add -; \
sudo apt-get update -q && sudo apt-get install -y -q gcsfuse; fi; \
sudo mkdir -p /gcs/$BUCKET && sudo chown \$USER /gcs/$BUCKET; \
mountpoint -q /gcs/$BUCKET || gcsfuse --implicit-dirs $BUCKET /gcs/$BUCKET; \
cd ~/genrec && python3 -m pip install -q --user uv && ~/.local/bin/uv venv -q --python 3.11 .venv && \
~/.local/bin/uv pip install -q --python .venv/bin/python -e '.[tpu]'"
gcloud_tpu ssh --worker=all --command="$SETUP"

IFS=, read -r -a MODES <<< "$RUN_MODES"
for MODE in "${MODES[@]}"; do
  WORKERS=0
  case "$ALL_WORKER_MODES" in *" $MODE "*) WORKERS=all ;; esac
  ARGS=(--workdir="$REMOTE_WORKDIR" --data_dir="$REMOTE_DATA_DIR" --run_mode="$MODE")
  case "$MODE" in eval|export) ARGS+=(--checkpoint_dir="$REMOTE_WORKDIR/checkpoints") ;; esac
  ARGS+=("${GENREC_ARGS[@]}")
  LOGS=$(quoted "$REMOTE_WORKDIR/logs")
  CMD="set -o pipefail; mkdir -p $LOGS && cd ~/genrec && \
GENREC_MULTIHOST=1 .venv/bin/python -m genrec.main $(quoted "${ARGS[@]}") 2>&1 | tee $LOGS/$MODE.\$(hostname).log"
  gcloud_tpu ssh --worker="$WORKERS" --command="$CMD"
done
echo "# done: $WORKDIR"
