"""Is a parallel-digit checkpoint biased against items it never saw in training (LIGER's finding), and
does a popularity-free prior on those items remove the bias? Rank every user of a cold-start split
exactly with `bonus` added to the score of each item that has no training interaction (the same
constant for every such item, whatever its popularity elsewhere), for each bonus of a grid; metrics by
group (all / cold_items / warm_items / cold_users, genrec/evaluate/cold_start.py).

  python -m benchmarks.quality.cold_prior --checkpoint_dir=W/checkpoints --data_dir=D \
      --bonuses=0,1,2,3,4,6 --split=validation --out=OUT.json
  python -m benchmarks.quality.cold_prior --table OUT.json ...      # the markdown table of records

Selection rule (fixed before any run): on validation, the bonus with the highest cold_items
recall@10 among those whose warm_items recall@10 is at least 0.97 x the bonus-0 value (issue 32: warm
Recall@10 falls by at most 3 %); ties go to the smaller bonus. Test is then scored once, at the chosen
bonus and at 0 (the unremedied checkpoint), with `--split=test --bonuses=0,B`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

GROUPS = ("all", "cold_items", "warm_items", "cold_users")
GROUP_HEADER = " | ".join(f"{g} R@10 / N@10 (users)" for g in GROUPS)


def group_cells(groups: dict) -> str:
    """'Recall@10 / NDCG@10 (users)' of each cold-start group, as markdown cells."""
    return " | ".join(
        f"{m['recall@10']:.4f} / {m['ndcg@10']:.4f} ({m.get('users', m.get('examples')):,})"
        for m in (groups[g] for g in GROUPS)
    )


def table(paths: list[str]) -> str:
    """The markdown table of cold_prior JSON records: one row per (split, bonus), Recall@10 / NDCG@10
    per group and the users of each group."""
    lines = [f"| split | bonus | {GROUP_HEADER} |", "|---|---|" + "---|" * len(GROUPS)]
    for path in paths:
        with open(path) as f:
            record = json.load(f)
        for row in record["rows"]:
            lines.append(f"| {record['split']} | {row['bonus']:g} | {group_cells(row['groups'])} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--table", nargs="+", default=None, help="print the table of these JSON records, then exit"
    )
    p.add_argument("--checkpoint_dir")
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--data_dir")
    p.add_argument(
        "--raw_data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    )
    p.add_argument("--protocol", default="liger", help="cold_start_split.protocol the checkpoint trained on")
    p.add_argument("--bonuses", default="0,1,2,3,4,6")
    p.add_argument("--split", default="validation")
    p.add_argument("--exclude_history", action="store_true", help="drop each user's history from the ranking")
    p.add_argument("--out")
    args = p.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not (args.checkpoint_dir and args.data_dir and args.out):
        p.error("--checkpoint_dir, --data_dir and --out are required (or --table)")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from genrec import datasets
    from genrec.datasets import cold_start
    from genrec.evaluate import cold_start as cold_eval
    from genrec.evaluate import exact
    from genrec.runtime import checkpoints, partitioning
    from genrec.semantic_ids.artifact import Identifiers

    mesh = partitioning.make_mesh()
    model, meta = checkpoints.load_for_inference(args.checkpoint_dir, mesh, step=args.step)
    dataset = datasets.load(meta.dataset, data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
    split = cold_start.cold_start_split(dataset, args.protocol)
    unseen = np.ones(split.dataset.num_items, bool)
    unseen[cold_start.training_items(split.dataset)] = False
    scorer = exact.scorer(model, Identifiers.load(meta.identifiers_dir).codes)
    prior = jnp.asarray(unseen, jnp.float32)
    rows = []
    with jax.set_mesh(mesh):
        for bonus in [float(b) for b in args.bonuses.split(",")]:
            adjusted = lambda tokens, b=bonus: scorer.fn(*scorer.args, tokens) + b * prior  # noqa: E731
            groups = cold_eval.evaluate(
                adjusted,
                split,
                args.split,
                max_len=model.config.max_len,
                batch_size=exact.EVAL_BATCH,
                exclude_history=args.exclude_history,
            )
            rows.append({"bonus": bonus, "groups": groups})
            print(
                f"{args.split} bonus={bonus}: "
                + ", ".join(f"{g} R@10 {m.get('recall@10', float('nan')):.4f}" for g, m in groups.items()),
                flush=True,
            )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "checkpoint_dir": os.path.abspath(args.checkpoint_dir),
        "checkpoint_step": meta.step,
        "protocol": split.protocol,
        "split": args.split,
        "history": "excluded" if args.exclude_history else "kept",
        "unseen_items": int(unseen.sum()),
        "cold_items": int(len(split.cold_items)),
        "ranking": f"exact: all {split.dataset.num_items} items scored",
        "commit": commit,
        "rows": rows,
    }
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
