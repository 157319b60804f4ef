"""The MIPS index (genrec/export/mips_index.py) against exact ranking over the same item vectors:
top-10 recall and users/s of each index setting, build time and size, on one catalogue size.

Item vectors e_n and queries h come from a randomly initialised parallel-digit model of the recipe's
shape with random codes (benchmarks/scale/rank_common.py) and Beauty histories: with no trained
structure the vectors are close to isotropic, the hard case for an index. Both sides rank h only
(the model's forward pass, the same for both, is timed apart as `forward_users_per_s`); exact is
exact.Ranker's chunked matmul (item_topk.sweep) on the same CPU, in the same process.

  nice -n 5 .venv/bin/python benchmarks/scale/rank_index.py --num_items=1000000 --out=/tmp/i.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax
import numpy as np

from benchmarks.scale import rank_common  # noqa: E402
from genrec.evaluate import exact, item_topk, sequences  # noqa: E402
from genrec.export import mips_index  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_items", type=int, default=100000)
    p.add_argument("--users", type=int, default=1024)
    p.add_argument("--hnsw_ef", default="16,32,64,128,256")
    p.add_argument("--ivf_nprobe", default="8,32,128")
    p.add_argument("--ivf_pq_nprobe", default="32,64,128")
    p.add_argument("--rerank", default="4,16", help="ivf_pq: candidates re-scored exactly, x k")
    p.add_argument("--kinds", default="hnsw,ivf")
    p.add_argument(
        "--bundle",
        default=None,
        help="a trained parallel-digit bundle: its digit table and "
        "codes (grown to num_items with random codes) instead of a random model",
    )
    p.add_argument("--out", default=None)
    return p.parse_args()


def search_settings(kind: str, args) -> list[dict]:
    """The search-time settings swept for `kind`."""
    ints = lambda text: [int(v) for v in text.split(",")]
    if kind == "hnsw":
        return [{"ef_search": ef} for ef in ints(args.hnsw_ef)]
    if kind == "ivf":
        return [{"nprobe": nprobe} for nprobe in ints(args.ivf_nprobe)]
    return [{"nprobe": p, "rerank": r} for p in ints(args.ivf_pq_nprobe) for r in ints(args.rerank)]


def timed(fn, repeats=1):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return out, (time.perf_counter() - start) / repeats


def folder_gb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e9


def main():
    args = parse_args()
    before = rank_common.load_info()
    model, codes = (
        rank_common.bundle_model_and_codes(args.bundle, args.num_items)
        if args.bundle
        else rank_common.model_and_codes(args.num_items)
    )
    ranker = exact.Ranker(model, codes)
    histories = rank_common.beauty_histories(args.users, args.num_items)
    window = 16
    tokens = sequences.left_pad([np.asarray(h) for h in histories], window)
    (h, offset), forward_s = timed(lambda: jax.block_until_ready(ranker.queries(tokens)))
    h = np.asarray(h)
    sweep = jax.jit(
        lambda h, o, items: item_topk.sweep(
            item_topk.vector_scores, (h, o), items, num_items=ranker.num_items, k=10, mesh=ranker.mesh
        )[:2]
    )
    (_, exact_ids), exact_s = timed(lambda: jax.block_until_ready(sweep(h, offset, ranker.items)))
    exact_ids = np.asarray(exact_ids)
    vectors = np.asarray(ranker.items)[: ranker.num_items]
    rows = [{"method": "exact_matmul_chunked", "users_per_s": len(h) / exact_s, "top10_recall": 1.0}]
    print(rows[-1], flush=True)
    for kind in args.kinds.split(","):
        start = time.perf_counter()
        index = mips_index.build(vectors, kind=kind)
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            index.save(tmp)
            size_gb = folder_gb(tmp)
        for setting in search_settings(kind, args):
            index.set_search_params(**setting)
            (_, found), search_s = timed(lambda index=index: index.search(h, 10), repeats=3)
            row = {
                "method": f"{kind}",
                "params": dict(index.params),
                "users_per_s": len(h) / search_s,
                "top10_recall": item_topk.recall(found, exact_ids),
                "speedup_vs_exact": exact_s / search_s,
                "build_s": build_s,
                "index_gb": size_gb,
            }
            rows.append(row)
            print(row, flush=True)
    rank_common.write(
        args.out or "/dev/null",
        {
            "what": "MIPS index vs exact chunked matmul over the same item vectors e_n: top-10 recall, "
            "users/s "
            "(ranking h only; the model forward is forward_users_per_s for both)",
            "num_items": args.num_items,
            "bundle": args.bundle,
            "users": len(h),
            "history_window": window,
            "forward_users_per_s": len(h) / forward_s,
            "exact_users_per_s": len(h) / exact_s,
            "command": " ".join(["nice -n 5 .venv/bin/python"] + sys.argv),
            "load_before": before,
            "load_after": rank_common.load_info(),
            "peak_rss_gb": rank_common.peak_rss_gb(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
