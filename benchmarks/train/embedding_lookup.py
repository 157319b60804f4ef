"""One-hot vs `take` embedding lookup for the tiger model at the Beauty vocabulary (9,033 pieces):
seconds per jitted train step on training rows from a snapshot (`--run_mode=snapshot`).

  .venv/bin/python -m benchmarks.train.embedding_lookup --snapshot=W/snapshot --batch_size 32
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

from benchmarks.train import throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshot", required=True)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per lookup")
    args = parser.parse_args()

    from genrec.snapshot import arrays

    with open(os.path.join(args.snapshot, "meta.json")) as f:
        meta = json.load(f)
    columns = [
        arrays.load_columns(os.path.join(args.snapshot, "train", f"{t}.npz")) for t in meta["train_tasks"]
    ]
    features = arrays.encdec_features(
        [r for c in columns for r in c["inputs"]],
        [r for c in columns for r in c["targets"]],
        meta["task_feature_lengths"],
    )
    stream = arrays.Batches(features, args.batch_size, seed=0)(0)
    batches = [next(stream) for _ in range(args.steps + 1)]
    for lookup in ("one_hot", "take"):
        config = dataclasses.replace(
            throughput.model_config("tiger", meta["vocab_size"], "float32"), embedding_lookup=lookup
        )
        seconds = throughput.genrec_step_time(config, batches[0], batches[1:])
        print(
            f"{lookup}: {seconds:.3f} s/step (vocabulary {meta['vocab_size']}, batch {args.batch_size})",
            flush=True,
        )


if __name__ == "__main__":
    main()
