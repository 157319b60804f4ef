"""Train-step compile time and step time with unrolled vs scanned layers (ModelConfig.scan_layers).

  .venv/bin/python benchmarks/train/compile_time.py --models tiger,base --out benchmarks/train/compile_time.json

For each model size (configs/models/<name>.gin) and layer layout: seconds to trace + lower and to
compile genrec's jitted train step (AdamW, dropout on) on jax.devices()[0], then seconds per step
over `--steps` steps of random token batches (`--batch_size` rows, inputs 160 / targets 8 tokens,
vocabulary `--vocab_size`). Scanning compiles one layer body per stack instead of one per layer.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import throughput  # noqa: E402  (benchmarks/train/throughput.py)


def random_batch(rng: np.random.Generator, rows: int, vocab_size: int) -> dict:
    inputs, targets = throughput.LENGTHS["inputs"], throughput.LENGTHS["targets"]
    target_tokens = rng.integers(3, vocab_size, (rows, targets), dtype=np.int32)
    return {"encoder_input_tokens": rng.integers(3, vocab_size, (rows, inputs), dtype=np.int32),
            "decoder_input_tokens": np.pad(target_tokens[:, :-1], ((0, 0), (1, 0))),
            "decoder_target_tokens": target_tokens,
            "decoder_loss_weights": np.ones((rows, targets), np.float32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiger,base")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--vocab_size", type=int, default=1024)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()

    import jax

    rng = np.random.default_rng(0)
    batches = [random_batch(rng, args.batch_size, args.vocab_size) for _ in range(args.steps + 1)]
    rows = []
    print("| model | layers | trace + lower (s) | compile (s) | step (s) |\n|---|---|---|---|---|")
    for name in args.models.split(","):
        base = throughput.model_config(name.strip(), args.vocab_size, "float32")
        for scan in (False, True):
            row = {"model": name, "layers": "scanned" if scan else "unrolled",
                   **throughput.genrec_timings(dataclasses.replace(base, scan_layers=scan), batches[0], batches[1:])}
            rows.append(row)
            print(f"| {name} | {row['layers']} | {row['lower_s']:.1f} | {row['compile_s']:.1f} | "
                  f"{row['step_s']:.3f} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "device": jax.devices()[0].device_kind, "batch_size": args.batch_size,
                       "steps": args.steps, "vocab_size": args.vocab_size, "lengths": throughput.LENGTHS,
                       "load_average_at_end": os.getloadavg()}, f, indent=2)


if __name__ == "__main__":
    main()
