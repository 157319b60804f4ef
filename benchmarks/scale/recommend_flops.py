"""What `genrec recommend` must compute per user, and what this CPU computes per second: the ceiling on
users/s of exact serving that no Python or dispatch work can raise.

  nice -n 5 .venv/bin/python -m benchmarks.scale.recommend_flops --bundle=BUNDLE \
      --out=benchmarks/scale/recommend_flops_beauty.json

Requests: the same seeded Beauty users as benchmarks/scale/recommend_cli.py. The users are batched as
exact.serve_top_k batches them (sorted by history length, SERVE_BATCH per call, the call's window the
length bucket of its longest history); each call's FLOPs are XLA's cost analysis of the compiled
serving programs: `queries` (the model's forward to h, and the digit log-normalisers) and `top_k`
(queries, then h . e_n over every item and the top k). Their sum over the calls, per user, is the
work of one recommendation. The machine's rate is a timed float32 matmul of the ranking's shape
([SERVE_BATCH, d] x [d, items]) and of a square one, best of several repeats. Beside them, the
recommender's own rate in this process (`recommend_batch` over the same users, `--calls` times: the
first compiles, the others show the steady state of a long-lived server).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.machine import uptime
from benchmarks.scale.recommend_cli import write_requests
from genrec.evaluate import exact, sequences
from genrec.export import recommender as recommender_lib


def flops(compiled) -> float:
    cost = compiled.cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"])


def matmul_rate(m: int, k: int, n: int, repeats: int = 20) -> float:
    """Best float32 FLOP/s of an [m, k] x [k, n] product on the default device."""
    a = jnp.ones((m, k), jnp.float32)
    b = jnp.ones((k, n), jnp.float32)
    product = jax.jit(jnp.matmul)
    product(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    report = {"command": " ".join(["python -m", __spec__.name] + sys.argv[1:]), "uptime_before": uptime()}
    requests = os.path.join(tempfile.mkdtemp(prefix="recommend_flops_"), "requests.jsonl")
    users = write_requests(requests, args.users, args.seed)
    with open(requests) as f:
        histories = [json.loads(line)["history"] for line in f]
    lengths = np.sort([len(h) for h in histories])
    recommender = recommender_lib.load(args.bundle)
    in_process = []
    for _ in range(args.calls):
        start = time.perf_counter()
        recommender.recommend_batch(histories, args.top_k)
        in_process.append(users / (time.perf_counter() - start))
    ranker, batch = recommender._ranker, exact.SERVE_BATCH
    if ranker.num_items > ranker.chunk:  # XLA's cost analysis counts the chunk loop's body once
        raise SystemExit(
            f"{ranker.num_items} items span several chunks of {ranker.chunk}: FLOPs would be one chunk's"
        )
    width = args.top_k + recommender.headroom
    per_window: dict[int, dict] = {}
    total = {"queries": 0.0, "top_k": 0.0}
    for start in range(0, users, batch):
        window = sequences.window_for(
            int(lengths[start : start + batch][-1]), ranker.max_len, exact.SERVE_SMALLEST_WINDOW
        )
        if window not in per_window:
            tokens = np.ones((batch, window), np.int32)
            per_window[window] = {
                "calls": 0,
                "queries": flops(ranker.lowered(tokens).compile()),
                "top_k": flops(ranker.lowered(tokens, None, width).compile()),
            }
        per_window[window]["calls"] += 1
        for name in total:
            total[name] += per_window[window][name]
    d = ranker.items.shape[-1]  # d, plus the bonus coordinate where the bundle has one
    rates = {
        "ranking_shape": matmul_rate(batch, d, ranker.num_items),
        "square_1024": matmul_rate(1024, 1024, 1024),
    }
    per_user = total["top_k"] / users
    report.update(
        bundle=os.path.abspath(args.bundle),
        items=ranker.num_items,
        users=users,
        mean_history=float(lengths.mean()),
        batch=batch,
        per_window={str(w): row for w, row in sorted(per_window.items())},
        flops_per_user=per_user,
        forward_share=total["queries"] / total["top_k"],
        matmul_flops_per_s=rates,
        users_per_s_ceiling={name: rate / per_user for name, rate in rates.items()},
        in_process_users_per_s=in_process,
        cpus=os.cpu_count(),
        uptime_after=uptime(),
    )
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
