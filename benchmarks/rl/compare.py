"""Supervised checkpoint against its RL fine-tune: test under both history protocols, with
coverage@10 and the popularity of what is recommended. The parallel-digit model ranks every item
exactly; the encoder-decoder by trie-constrained beam search (beam 20), on the first
--max_eval_examples test users when given (the same users for every row).

  python -m benchmarks.rl.compare --dataset=amazon-2014-beauty --data_dir=D --raw_data_dir=R \
      --row=supervised=SUP_WORKDIR/checkpoints@4500 --row=rl=RL_WORKDIR/checkpoints@best \
      --out=benchmarks/rl/beauty
`@best` picks the step with the best validation NDCG@10 in the run's train_summary.json (the RL
run scores every checkpoint on validation); `--out` gets results.json and results.md, and one
evaluator results folder per row and protocol.
"""

from __future__ import annotations

import argparse
import json
import os

from benchmarks.rl import common
from genrec.train import selection

COLUMNS = ("recall@10", "ndcg@10", "coverage@10", "mean_pop_rec@10", "history@10")


def main():
    p = argparse.ArgumentParser()
    common.add_dataset_flags(p)
    p.add_argument("--row", action="append", required=True, help="NAME=CHECKPOINT_DIR@STEP|best")
    p.add_argument("--out", required=True)
    p.add_argument("--max_eval_examples", type=int, default=None, help="first N test users (default all)")
    args = p.parse_args()
    from genrec.evaluate import evaluator
    from genrec.evaluate.run import evaluate_checkpoint
    from genrec.runtime import partitioning

    dataset = common.load_dataset(args)
    mesh = partitioning.make_mesh()
    rows = {}
    for spec in args.row:
        name, where = spec.split("=", 1)
        directory, step = where.rsplit("@", 1)
        validation = None
        if step == "best":
            validation = selection.best_point(selection.validation_curve(directory))
            step = validation["step"]
        row = {"checkpoint": os.path.abspath(directory), "step": int(step), "validation": validation}
        for protocol, drop in (("history_kept", False), ("history_excluded", True)):
            out = evaluate_checkpoint(
                directory,
                dataset=dataset,
                mesh=mesh,
                step=int(step),
                out_dir=os.path.join(args.out, name, protocol),
                max_eval_examples=args.max_eval_examples,
                config=evaluator.EvalConfig(drop_history=drop),
            )
            (metrics,) = [m for task, m in out["metrics"].items() if not task.startswith("most_popular")]
            row[protocol] = {k: metrics[k] for k in COLUMNS if k in metrics} | {"users": metrics["examples"]}
            row["ranking"] = out["run"].get(
                "ranking", f"constrained beam search, beam {out['run'].get('beam_size')}"
            )
        rows[name] = row
        print(name, json.dumps(row))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(
            {
                "dataset": args.dataset,
                "split": "test",
                "max_eval_examples": args.max_eval_examples,
                "rows": rows,
            },
            f,
            indent=2,
        )
    users = "every user" if args.max_eval_examples is None else f"the first {args.max_eval_examples} users"
    rankings = sorted({row["ranking"] for row in rows.values()})
    lines = [
        f"# {args.dataset}, test, {users}; ranking: {'; '.join(rankings)}",
        "",
        "| row | step | Recall@10 / NDCG@10, history kept | history excluded | coverage@10 "
        "| mean popularity of the top 10 | users |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        kept, excl = row["history_kept"], row["history_excluded"]
        lines.append(
            f"| {name} | {row['step']} | {kept['recall@10']:.4f} / {kept['ndcg@10']:.4f} | "
            f"{excl['recall@10']:.4f} / {excl['ndcg@10']:.4f} | {kept['coverage@10']:.4f} | "
            f"{kept['mean_pop_rec@10']:.1f} | {kept['users']} |"
        )
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
