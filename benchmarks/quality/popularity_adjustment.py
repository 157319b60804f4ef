"""Does a parallel-digit checkpoint lean too far towards popular items? Rank every validation and
test user exactly with each item's score lowered by alpha * log(1 + its training count), for each
alpha; choose alpha on validation (the test rows are a diagnostic).

  python -m benchmarks.quality.popularity_adjustment --checkpoint_dir=W/checkpoints --step=2200 \
      --data_dir=D --alphas=-0.1,0,0.1,0.2,0.3 [--exclude_history] [--splits=validation] --out=OUT.json
"""

from __future__ import annotations

import argparse
import json
import os


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint_dir", required=True)
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--data_dir", required=True)
    p.add_argument(
        "--raw_data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    )
    p.add_argument("--alphas", default="0,0.1,0.2,0.3")
    p.add_argument("--exclude_history", action="store_true", help="drop each user's history from the ranking")
    p.add_argument("--splits", default="validation,test")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import jax
    import jax.numpy as jnp

    from genrec import datasets
    from genrec.evaluate import exact, full_ranking, popularity
    from genrec.runtime import checkpoints, partitioning
    from genrec.semantic_ids.artifact import Identifiers

    mesh = partitioning.make_mesh()
    model, meta = checkpoints.load_for_inference(args.checkpoint_dir, mesh, step=args.step)
    dataset = datasets.load(meta.dataset, data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
    log_counts = jnp.log1p(jnp.asarray(popularity.item_counts(dataset), jnp.float32))
    scorer = exact.scorer(model, Identifiers.load(meta.identifiers_dir).codes)
    out = {}
    with jax.set_mesh(mesh):
        for split in args.splits.split(","):
            for alpha in [float(a) for a in args.alphas.split(",")]:
                adjusted = lambda tokens, a=alpha: scorer.fn(*scorer.args, tokens) - a * log_counts  # noqa: E731
                m = full_ranking.evaluate(
                    adjusted,
                    dataset,
                    split,
                    max_len=model.config.max_len,
                    batch_size=exact.EVAL_BATCH,
                    beyond=True,
                    exclude_history=args.exclude_history,
                )
                out[f"{split}/{alpha}"] = m
                print(
                    f"{split} alpha={alpha}: Recall@10 {m['recall@10']:.4f} NDCG@10 {m['ndcg@10']:.4f} "
                    f"mean popularity of the top 10 {m['mean_pop_rec@10']:.1f}",
                    flush=True,
                )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
