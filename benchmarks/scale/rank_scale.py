"""Ranking cost against catalogue size: users/s and memory per device of each way to rank the
parallel-digit model's catalogue, and the top-10 recall of the approximate ones against exact.

Model and codes: benchmarks/scale/rank_common.py (random init of the recipe's shape, random codes;
cost does not depend on the weights). Users: Beauty histories (the 16-item window bucket), ranked
with history kept, top 10. Methods (genrec/evaluate/exact.py, item_topk.py, export/mips_index.py):
  dense_gather    the old path: exact.scorer's [B, N, 33] gather, then lax.top_k over [B, N]
  gather_chunked  Ranker(matmul=False): the digit gather, `chunk` items at a time
  matmul_dense    Ranker, one chunk: h @ E^T over all items, then top-k
  matmul_chunked  Ranker: h @ E^T `chunk` items at a time, running top-k
  approx_max_k    matmul_chunked with jax.lax.approx_max_k (recall target 0.95) per chunk
With --devices=8 (8 simulated CPU devices, XLA_FLAGS), the item table is split over them and each
device sweeps its own items; memory is then per device. Memory: XLA's compiled memory analysis of
the ranking program (arguments + temporaries + outputs, per device).

  nice -n 5 .venv/bin/python benchmarks/scale/rank_scale.py --num_items=100000 --out=/tmp/r.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--devices=8" in sys.argv:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.scale import rank_common  # noqa: E402
from genrec.evaluate import exact, item_topk, sequences  # noqa: E402
from genrec.runtime import partitioning  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_items", type=int, default=100000)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--users", type=int, default=128, help="users per call")
    p.add_argument("--dense_users", type=int, default=16, help="users per call of dense_gather")
    p.add_argument("--calls", type=int, default=2, help="timed calls after a warm-up one")
    p.add_argument("--chunk", type=int, default=item_topk.DEFAULT_CHUNK)
    p.add_argument(
        "--methods", default="dense_gather,gather_chunked,matmul_dense,matmul_chunked,approx_max_k"
    )
    p.add_argument("--out", default=None)
    return p.parse_args()


def memory_gb(compiled) -> float:
    m = compiled.memory_analysis()
    return (m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes) / 1e9


def main():
    args = parse_args()
    before = rank_common.load_info()
    mesh = partitioning.make_mesh(data=args.devices, devices=jax.devices()[: args.devices])
    model, codes = rank_common.model_and_codes(args.num_items)
    histories = [h for h in rank_common.beauty_histories(22363, args.num_items) if 8 < len(h) <= 16]
    tokens = sequences.left_pad([np.asarray(h) for h in histories[: args.users]], 16)
    rows, reference = [], None
    for method in args.methods.split(","):
        users = args.dense_users if method == "dense_gather" else args.users
        batch = tokens[:users]
        start = time.perf_counter()
        if method == "dense_gather":
            scorer = exact.scorer(model, codes)
            bound = jax.jit(lambda *a, fn=scorer.fn: jax.lax.top_k(fn(*a), 10))
            run = lambda bound=bound, scorer=scorer, batch=batch: bound(*scorer.args, batch)  # noqa: E731
            compiled = bound.lower(*scorer.args, batch).compile()
        else:
            chunk = args.num_items if method == "matmul_dense" else args.chunk
            ranker = exact.Ranker(model, codes, matmul=method != "gather_chunked", chunk=chunk, mesh=mesh)
            approx = 0.95 if method == "approx_max_k" else None
            run = lambda ranker=ranker, batch=batch, approx=approx: ranker.top_k(  # noqa: E731
                batch, None, 10, approx=approx
            )
            compiled = ranker.lowered(batch, None, 10, approx=approx).compile()
        prepared = time.perf_counter() - start
        jax.block_until_ready(run())  # warm-up
        start = time.perf_counter()
        for _ in range(args.calls):
            _, ids = jax.block_until_ready(run())
        seconds = (time.perf_counter() - start) / args.calls
        ids = np.asarray(ids)
        if method != "dense_gather":
            reference = ids if reference is None and method == "matmul_chunked" else reference
        row = {
            "method": method,
            "devices": args.devices,
            "users_per_call": users,
            "call_s": seconds,
            "users_per_s": users / seconds,
            "memory_per_device_gb": memory_gb(compiled),
            "prepare_and_compile_s": prepared,
            "ids": ids[:, :10].tolist(),
        }
        rows.append(row)
        print({k: v for k, v in row.items() if k != "ids"}, flush=True)
    for row in rows:  # recall against the exact chunked matmul, on the users both ranked
        if reference is not None:
            ids = np.asarray(row.pop("ids"))
            row["top10_recall_vs_exact"] = item_topk.recall(ids, reference[: len(ids)])
        else:
            row.pop("ids")
    rank_common.write(
        args.out or "/dev/null",
        {
            "what": "ranking users/s and memory per device vs catalogue size (history kept, top 10, 16-item "
            "histories), random-init model of the recipe's shape",
            "num_items": args.num_items,
            "devices": args.devices,
            "chunk": args.chunk,
            "digits": len(codes[0]),
            "d_model": model.config.block.d_model,
            "command": " ".join(["nice -n 5 .venv/bin/python"] + sys.argv),
            "load_before": before,
            "load_after": rank_common.load_info(),
            "peak_rss_gb": rank_common.peak_rss_gb(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
