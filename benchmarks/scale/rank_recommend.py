"""`genrec recommend --histories` throughput on a Beauty-sized catalogue: ExactRecommender.recommend_batch
(what the command runs) before and after the ranking rework, in the same process.

The model is randomly initialised with the recipe's shape (benchmarks/scale/rank_common.py): what a
Beauty bundle holds but the trained weights, on which throughput does not depend. Histories are
20,000 of Beauty's real user sequences. Each mode runs twice over the same users: `cold` (first call,
compiles included, what one CLI run pays) and `warm` (second call). Modes:
  baseline    the loop on main before this change: dense [B, N, 33] gather scorer, batch 32,
              users in file order, an excluded-history width per batch (one compile per pair)
  dense       the new serving loop (exact.serve_top_k) over the same dense scorer
  gather      exact.Ranker, digit gather in 16k-item chunks
  matmul      exact.Ranker, h . e_n matmul over the item vectors
  index       the MIPS index (genrec/export/mips_index.py) instead of exact ranking
Exact modes must return the baseline's items for every user (reported).

  nice -n 5 .venv/bin/python benchmarks/scale/rank_recommend.py --out=benchmarks/scale/rank_recommend.json
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.scale import rank_common  # noqa: E402  (benchmarks/scale/rank_common.py)
from genrec.evaluate import data_parallel, exact, protocol, sequences  # noqa: E402
from genrec.export import mips_index  # noqa: E402
from genrec.export.recommender import ExactRecommender, _exact_top_k  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_items", type=int, default=12101)
    p.add_argument("--users", type=int, default=20000)
    p.add_argument(
        "--runs",
        default="baseline:32,matmul:32,matmul:256,gather:256,dense:256,index:256",
        help="mode:batch_size pairs, in order (the first is the reference for same_lists)",
    )
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--out", default=None)
    return p.parse_args()


def baseline(rec: ExactRecommender, scorer, histories, top_k: int, batch_size: int):
    """ExactRecommender.recommend_batch as it was on main (c70aabc), over `scorer`."""
    items, _ = rec._checked(histories, None)
    batch_size = data_parallel.rows_per_call(max(1, min(batch_size, len(items))))
    width = min(len(rec.source_ids), top_k + rec.headroom)
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        window = sequences.window_for(max(map(len, chunk)), rec.max_len)
        tokens = np.zeros((batch_size, window), np.int32)
        tokens[: len(chunk)] = sequences.left_pad([np.asarray(h, np.int32) for h in chunk], window)
        excluded = protocol.excluded_histories(chunk, True, rows=batch_size)
        best, ranked = data_parallel.run(_exact_top_k, scorer.args, (tokens, excluded), fn=scorer.fn, k=width)
        out += rec._results(ranked[: len(chunk)], best[: len(chunk)], chunk, top_k, True, None)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main():
    args = parse_args()
    before = rank_common.load_info()
    model, codes = rank_common.model_and_codes(args.num_items)
    histories = rank_common.beauty_histories(args.users, args.num_items)
    ids = [str(i) for i in range(args.num_items)]
    kw = dict(max_len=model.config.max_len, source_ids=ids, titles=ids)
    dense = exact.scorer(model, codes)
    rows, reference = [], None
    for mode, batch_size in (run.split(":") for run in args.runs.split(",")):
        batch_size = int(batch_size)
        built = time.perf_counter()
        if mode in ("baseline", "dense"):
            rec = ExactRecommender(dense, **kw)
        elif mode == "index":
            ranker = exact.Ranker(model, codes)
            rec = ExactRecommender(ranker, index=mips_index.build_index(ranker, histories[:2000]), **kw)
        else:
            rec = ExactRecommender(exact.Ranker(model, codes, matmul=mode == "matmul"), **kw)
        built = time.perf_counter() - built
        if mode == "baseline":
            run = lambda rec=rec, b=batch_size: baseline(rec, dense, histories, args.top_k, b)  # noqa: E731
        else:
            run = lambda rec=rec, b=batch_size: rec.recommend_batch(histories, args.top_k, batch_size=b)  # noqa: E731
        _, cold = timed(run)
        result, warm = timed(run)
        lists = [[r.item for r in recs] for recs in result]
        reference = lists if reference is None else reference
        same = float(np.mean([a == b for a, b in zip(lists, reference, strict=True)]))
        overlap = float(
            np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(lists, reference, strict=True)])
        )
        row = {
            "mode": mode,
            "batch_size": batch_size,
            "build_s": built,
            "cold_s": cold,
            "warm_s": warm,
            "cold_users_per_s": len(histories) / cold,
            "warm_users_per_s": len(histories) / warm,
            "same_lists_as_first_mode": same,
            "top10_overlap_with_first_mode": overlap,
            "peak_rss_gb_so_far": rank_common.peak_rss_gb(),
        }
        if mode == "index":
            row["index"] = rec.index.describe()
        rows.append(row)
        print(row, flush=True)
    rank_common.write(
        args.out or "/dev/null",
        {
            "what": "ExactRecommender.recommend_batch users/s, drop history, top 10, "
            "random-init model of the "
            "recipe's shape (throughput does not depend on the weights)",
            "num_items": args.num_items,
            "users": len(histories),
            "top_k": args.top_k,
            "history_items_mean": float(np.mean([len(h) for h in histories])),
            "command": " ".join(["nice -n 5 .venv/bin/python"] + sys.argv),
            "load_before": before,
            "load_after": rank_common.load_info(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
