"""Batch inference: `Recommender.recommend_batch` (what `genrec recommend --histories` runs) against
calling `recommend` once per user, on one exported bundle, in the same process.

Histories are random catalogue items (3-10 each, seed 0). Each mode gets an untimed warm-up over
the same users first, so compiles are not timed. Both must return the same items for every user.

  bash launch/local.sh   # writes workdir/quickstart/bundle
  .venv/bin/python -m benchmarks.decode.batch_recommend --bundle=workdir/quickstart/bundle
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from genrec.export import recommender as recommender_lib


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="workdir/quickstart/bundle")
    p.add_argument("--users", type=int, default=256, help="users decoded in batches")
    p.add_argument("--single_users", type=int, default=64, help="users decoded one at a time")
    p.add_argument("--batch_sizes", default="16,64")
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    return p.parse_args()


def timed(fn):
    fn()  # warm-up: compiles every shape this call meets
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main():
    args = parse_args()
    rec = recommender_lib.load(args.bundle)
    rng = np.random.default_rng(0)
    histories = [
        list(rng.choice(rec.source_ids, size=rng.integers(3, 11), replace=False)) for _ in range(args.users)
    ]
    single, single_s = timed(lambda: [rec.recommend(h, args.top_k) for h in histories[: args.single_users]])
    rows = [
        {"mode": "one user per call", "users": args.single_users, "users_per_s": args.single_users / single_s}
    ]
    for batch_size in map(int, args.batch_sizes.split(",")):
        batched, seconds = timed(lambda: rec.recommend_batch(histories, args.top_k, batch_size=batch_size))
        same = all([r.item for r in a] == [r.item for r in b] for a, b in zip(single, batched))
        rows.append(
            {
                "mode": f"recommend_batch, batch {batch_size}",
                "users": args.users,
                "users_per_s": args.users / seconds,
                "same_items_as_single": same,
            }
        )
    for row in rows:
        row["speedup"] = row["users_per_s"] / rows[0]["users_per_s"]
        print(
            f"{row['mode']:>28}: {row['users_per_s']:8.1f} users/s  {row['speedup']:5.1f}x"
            + (f"  same items: {row['same_items_as_single']}" if "same_items_as_single" in row else "")
        )
    report = {
        "bundle": os.path.abspath(args.bundle),
        "num_items": len(rec.source_ids),
        "device": jax.devices()[0].device_kind,
        "top_k": args.top_k,
        "beam_size": rec.beam_size,
        "rows": rows,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
