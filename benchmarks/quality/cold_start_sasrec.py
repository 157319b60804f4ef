"""Beauty item cold-start, LIGER's split: SASRec-CE as genrec's Beauty row configures it, trained on the
split's training part, every item ranked exactly, metrics by cold-start group.

    nice -n 5 .venv/bin/python -m benchmarks.quality.cold_start_sasrec \
        --out benchmarks/quality/cold_start_sasrec_beauty.json

The row's settings, untouched: configs/baselines/sequential.gin + budget_cpu.gin (d 64, 2 blocks, 1 head,
dropout 0.5, full-softmax cross-entropy, each user's last 51 items, learning rate 0.003, validation
NDCG@10 of all users every 3 epochs, patience 10, at most 40 minutes of training), history kept (the
TIGER and LIGER protocol). Nothing is tuned here. The cold items occur in no training sequence, so
their embeddings are moved only as negatives of the softmax. Test is scored once, with the parameters
that validation chose; groups come from the same per-user arrays (genrec/evaluate/cold_start.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import gin
import numpy as np

from benchmarks.machine import uptime
from benchmarks.quality import cold_prior
from genrec import RESOURCE_ROOT
from genrec.baselines import registry
from genrec.datasets import amazon, cold_start, loading
from genrec.evaluate import cold_start as cold_eval

GIN_FILES = ("sequential.gin", "budget_cpu.gin")


def table(path: str) -> str:
    """The markdown rows of a cold_start_sasrec JSON record: validation and test, by group."""
    with open(path) as f:
        record = json.load(f)
    epoch = record["sasrec"]["cost"]["best_epoch"]
    lines = [f"| model | split | {cold_prior.GROUP_HEADER} |", "|---|---|" + "---|" * len(cold_prior.GROUPS)]
    for split, groups in record["groups"].items():
        lines.append(f"| SASRec-CE (epoch {epoch}) | {split} | {cold_prior.group_cells(groups)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the JSON record (with --table: the one to print)")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --out, then exit")
    parser.add_argument("--raw_data_dir", default=loading.default_raw_data_dir())
    parser.add_argument("--gin", action="append", default=[], help="an extra gin binding (a smoke run)")
    args = parser.parse_args()
    if args.table:
        return print(table(args.out))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the trainer's epoch lines
    per_user_dir = os.path.splitext(args.out)[0] + "_per_user"
    gin.parse_config_files_and_bindings(
        [os.path.join(RESOURCE_ROOT, "configs", "baselines", name) for name in GIN_FILES],
        [f"sasrec_ce/TrainConfig.per_user_dir = {per_user_dir!r}"] + args.gin,
    )
    beauty = amazon.load(os.path.join(args.raw_data_dir, "amazon-2014-beauty"), "beauty")
    split = cold_start.cold_start_split(beauty, "liger")
    out = {
        "command": " ".join(["nice -n 5 .venv/bin/python -m", __spec__.name] + sys.argv[1:]),
        "uptime_before": uptime(),
        "split": {"protocol": split.protocol, "cold_items": len(split.cold_items), **split.info},
        "gin_files": [f"configs/baselines/{name}" for name in GIN_FILES],
    }
    row = registry.run_baseline("sasrec_ce", split.dataset)
    groups = {}
    for key, eval_split in (("validation", "validation"), ("test", "test")):
        with np.load(row["per_user_files"][key]) as arrays:
            per_user = dict(arrays)
        groups[key] = {
            "all": {
                "ndcg@10": float(per_user["ndcg@10"].mean()),
                "recall@10": float(per_user["hit@10"].mean()),
                "examples": len(per_user["hit@10"]),
            },
            **cold_eval.rows_from_per_user(split.dataset, eval_split, per_user, split.cold_items),
        }
        print(key, json.dumps(groups[key]), flush=True)
    out.update(
        groups=groups,
        per_user_files={k: os.path.relpath(v) for k, v in row["per_user_files"].items()},
        sasrec=row,
        uptime_after=uptime(),
    )
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=float)


if __name__ == "__main__":
    main()
