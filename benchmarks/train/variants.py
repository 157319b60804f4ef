"""Train-step compile time, temporary memory and step time of ModelConfig variants, side by side.

  .venv/bin/python -m benchmarks.train.variants --models tiger,small,base \
      --variants scan_layers=False scan_layers=True --out benchmarks/train/variants_layers.json

Each variant is a comma-separated list of ModelConfig overrides (Python literals) applied to each
model size (configs/models/<name>.gin). For every (model, variant): seconds to trace + lower and to
compile genrec's jitted train step (AdamW, dropout on) on jax.devices()[0], the compiled program's
temporary buffers (XLA's memory analysis: activations kept for the backward pass and workspace),
then seconds per step over `--steps` random token batches (`--batch_size` rows, inputs 160 /
targets 8 tokens, vocabulary `--vocab_size`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os

import numpy as np

from benchmarks.train import throughput


def parse_variant(text: str) -> dict:
    """'scan_layers=True,remat_policy="dots"' → {'scan_layers': True, 'remat_policy': 'dots'}."""
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"variant {text!r}: {item!r} is not NAME=VALUE")
        overrides[name.strip()] = ast.literal_eval(value.strip())
    return overrides


def random_batch(rng: np.random.Generator, rows: int, vocab_size: int) -> dict:
    inputs, targets = throughput.LENGTHS["inputs"], throughput.LENGTHS["targets"]
    target_tokens = rng.integers(3, vocab_size, (rows, targets), dtype=np.int32)
    return {
        "encoder_input_tokens": rng.integers(3, vocab_size, (rows, inputs), dtype=np.int32),
        "decoder_input_tokens": np.pad(target_tokens[:, :-1], ((0, 0), (1, 0))),
        "decoder_target_tokens": target_tokens,
        "decoder_loss_weights": np.ones((rows, targets), np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiger,base")
    parser.add_argument("--variants", nargs="+", default=["scan_layers=False", "scan_layers=True"])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--vocab_size", type=int, default=1024)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    variants = {v: parse_variant(v) for v in args.variants}

    import jax

    rng = np.random.default_rng(0)
    batches = [random_batch(rng, args.batch_size, args.vocab_size) for _ in range(args.steps + 1)]
    rows = []
    print(
        "| model | variant | trace + lower (s) | compile (s) | temp memory (MiB) | step (s) |\n"
        "|---|---|---|---|---|---|"
    )
    for name in args.models.split(","):
        base = throughput.model_config(name.strip(), args.vocab_size, "float32")
        for text, overrides in variants.items():
            config = dataclasses.replace(base, **overrides)
            row = {
                "model": name,
                "variant": text,
                **throughput.genrec_timings(config, batches[0], batches[1:]),
            }
            rows.append(row)
            memory = "-" if row["temp_bytes"] is None else f"{row['temp_bytes'] / 2**20:,.0f}"
            print(
                f"| {name} | {text} | {row['lower_s']:.1f} | {row['compile_s']:.1f} | {memory} | "
                f"{row['step_s']:.3f} |",
                flush=True,
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "rows": rows,
                    "device": jax.devices()[0].device_kind,
                    "batch_size": args.batch_size,
                    "steps": args.steps,
                    "vocab_size": args.vocab_size,
                    "lengths": throughput.LENGTHS,
                    "load_average_at_end": os.getloadavg(),
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
