"""What one training epoch of each tuned-SASRec variant costs here, to size PROTOCOL.md's grid.

  nice -n 10 python -m benchmarks.quality.sasrec_epoch_cost --dataset=amazon-2014-beauty \
      --out=benchmarks/quality/sasrec_grid_beauty/epoch_cost.json

Trains, for each variant, one step on every batch shape and position capacity (compilation, not
counted) and then one full epoch over split('train'), timing CPU seconds (the process's user +
system) and wall seconds. Nothing is scored on validation or test. Writes full-precision JSON with
uptime before and after. --variants=ce64 --compare_padded times the 64-wide full softmax twice in one
process: over the real positions only (as the trainer does) and over every padded position (before).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import optax
from flax import nnx

from benchmarks.quality import sasrec_grid
from genrec.baselines import trainer
from genrec.evaluate import sequences

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {  # name: (loss settings, width), each at 1 head, history length 50, all positions
    "ce64": ({"loss": "ce"}, 64),
    "sampled256": ({"loss": "sampled_softmax", "num_negatives": 256}, 64),
    "sampled1024": ({"loss": "sampled_softmax", "num_negatives": 1024}, 64),
    "ce256": ({"loss": "ce"}, 256),
}


def epoch_cost(dataset, config: dict, compact: bool = True) -> dict:
    model_config, train_config = sasrec_grid.split_config(config, True, None)
    model = trainer.SasRec(dataset.num_items, model_config, rngs=nnx.Rngs(0))
    tx = optax.adam(train_config.learning_rate, b2=train_config.adam_b2)
    graphdef, params = nnx.split(model)
    opt_state = tx.init(params)
    step = trainer.make_step(graphdef, tx, train_config.loss)
    seqs = trainer.training_sequences(dataset, train_config, model_config.max_len)
    rng, key = np.random.default_rng(0), jax.random.key(0)
    plan = list(sequences.batches(seqs, train_config.batch_size, model_config.max_len, extra=1, rng=rng))
    capacities = [trainer.batch_capacity(tokens) if compact else None for _, tokens in plan]
    cpu, wall = time.process_time(), time.time()
    first = {}  # (batch shape, capacity) → the first batch that has it: each compiles once
    for i, ((_, tokens), capacity) in enumerate(zip(plan, capacities)):
        first.setdefault((tokens.shape, capacity), i)
    for i in first.values():
        tokens = plan[i][1]
        negatives = trainer.draw_negatives(train_config, tokens, dataset.num_items, rng)
        jax.block_until_ready(step(params, opt_state, tokens, negatives, key, capacity=capacities[i]))
    compile_cpu, compile_wall = time.process_time() - cpu, time.time() - wall
    cpu, wall = time.process_time(), time.time()
    for (_, tokens), capacity in zip(plan, capacities):
        key, sub = jax.random.split(key)
        negatives = trainer.draw_negatives(train_config, tokens, dataset.num_items, rng)
        params, opt_state, loss = step(params, opt_state, tokens, negatives, sub, capacity=capacity)
    jax.block_until_ready(loss)
    return {
        "config": config,
        "compact_positions": compact,
        "capacities": sorted({c for c in capacities if c}),
        "steps": len(plan),
        "training_sequences": len(seqs),
        "epoch_cpu_s": time.process_time() - cpu,
        "epoch_wall_s": time.time() - wall,
        "compile_cpu_s": compile_cpu,
        "compile_wall_s": compile_wall,
        "loss_after_epoch": float(loss),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="amazon-2014-beauty", choices=sorted(sasrec_grid.SHORT))
    parser.add_argument("--out", required=True)
    parser.add_argument("--raw_data_dir", default=os.path.join(REPO, "..", "shared", "data"))
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {sorted(VARIANTS)}")
    parser.add_argument(
        "--compare_padded", action="store_true", help="each variant also over every padded position"
    )
    args = parser.parse_args()
    dataset = sasrec_grid.load(args.dataset, args.raw_data_dir)
    rows = []
    runs = [
        (v, compact) for v in args.variants.split(",") for compact in (True, False)[: 1 + args.compare_padded]
    ]
    for variant, compact in runs:
        loss, width = VARIANTS[variant]
        config = {**sasrec_grid.stage_configs(1)[0], **loss, "d_model": width}
        before = sasrec_grid.uptime()
        row = epoch_cost(dataset, config, compact)
        rows.append({**row, "uptime_before": before, "uptime_after": sasrec_grid.uptime()})
        print(json.dumps(rows[-1]), flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(
                {
                    "dataset": args.dataset,
                    "command": " ".join(["python -m benchmarks.quality.sasrec_epoch_cost"] + sys.argv[1:]),
                    "commit": subprocess.run(
                        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
                    ).stdout.strip(),
                    "cpu_count": os.cpu_count(),
                    "rows": rows,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
