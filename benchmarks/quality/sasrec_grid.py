"""The tuned-SASRec search of benchmarks/quality/PROTOCOL.md, section 8, on validation only.

  nice -n 10 python -m benchmarks.quality.sasrec_grid --dataset=amazon-2014-beauty --protocol=excluded \
      --stage=1 [--max_runs=N] [--out=benchmarks/quality/sasrec_grid_beauty]

Each configuration trains on split('train') with seed 0, is selected on validation NDCG@10 (every
validation user, exact ranking, under --protocol) and never scores test (TrainConfig.score_test =
False). One full-precision JSON per run in <out>/<protocol>/ (config, validation metrics and curve,
CPU and wall seconds, uptime before and after, command, commit) with its per-user validation arrays
beside it; finished runs are skipped, so the command resumes. Stage k > 1 starts from the
configuration selected over stages < k (`selected`, PROTOCOL.md section 3).

  --final --seeds=0,1,2   once stages 1-4 are complete: trains the selected configuration with each
                          seed (seed 0 again: the search kept no parameters), scores test once per
                          seed, and writes the headline rows make_tables.py reads to
                          benchmarks/quality/protocol_runs/<dataset>/<protocol>/tuned-sasrec_seed<s>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.machine import uptime
from genrec.baselines import trainer
from genrec.evaluate import significance

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHORT = {
    "amazon-2014-beauty": "beauty",
    "amazon-2014-musical-instruments": "musical_instruments",
    "movielens-100k": "ml100k",
}
# Fixed by PROTOCOL.md section 8.
FIXED_MODEL = dict(num_blocks=2, block_layout="pre_norm")
FIXED_TRAIN = dict(
    batch_size=128, adam_b2=0.98, max_epochs=200, eval_every=2, patience=10, select_metric="ndcg@10"
)
LOSSES = (
    {"loss": "ce"},
    {"loss": "sampled_softmax", "num_negatives": 256},
    {"loss": "sampled_softmax", "num_negatives": 1024},
)
LEARNING_RATES = (3e-4, 1e-3, 3e-3)
DROPOUTS = (0.2, 0.3, 0.5)
WIDTHS, HEADS = (64, 128, 256), (1, 2, 4)
LENGTHS, WINDOWS = (50, 200), ("last", "all")
STAGE1_BASE = {"d_model": 64, "num_heads": 1, "max_len": 50, "training_windows": "all"}


def stage_configs(stage: int, base: dict | None = None) -> list[dict]:
    """The declared configurations of a stage, in search order (flat dicts of model + train fields)."""
    if stage == 1:
        return [
            {**STAGE1_BASE, **loss, "learning_rate": lr, "dropout_rate": p}
            for loss, lr, p in itertools.product(LOSSES, LEARNING_RATES, DROPOUTS)
        ]
    if base is None:
        raise ValueError(f"stage {stage} starts from the configuration selected so far")
    if stage == 2:
        return [{**base, "d_model": d, "num_heads": h} for d, h in itertools.product(WIDTHS, HEADS)]
    if stage == 3:
        return [{**base, "max_len": n, "training_windows": w} for n, w in itertools.product(LENGTHS, WINDOWS)]
    if stage == 4:
        out = []
        for key, values in (("dropout_rate", DROPOUTS), ("learning_rate", LEARNING_RATES)):
            i = values.index(base[key])
            out += [{**base, key: values[j]} for j in (i - 1, i + 1) if 0 <= j < len(values)]
        return out
    raise ValueError(f"unknown stage {stage}; PROTOCOL.md declares stages 1-4")


def run_name(config: dict) -> str:
    loss = config["loss"] + (f"{config['num_negatives']}" if config["loss"] == "sampled_softmax" else "")
    return (
        f"{loss}_lr{config['learning_rate']:g}_p{config['dropout_rate']:g}_d{config['d_model']}"
        f"_h{config['num_heads']}_len{config['max_len']}_{config['training_windows']}"
    )


def split_config(
    config: dict, exclude_history: bool, per_user_dir: str, *, seed: int = 0, score_test: bool = False
):
    model_fields = {f.name for f in dataclasses.fields(trainer.SasRecConfig)}
    model = trainer.SasRecConfig(**FIXED_MODEL, **{k: v for k, v in config.items() if k in model_fields})
    train = trainer.TrainConfig(
        **FIXED_TRAIN,
        **{k: v for k, v in config.items() if k not in model_fields},
        exclude_history=exclude_history,
        score_test=score_test,
        per_user_dir=per_user_dir,
        seed=seed,
    )
    return model, train


def selected(rows: list[dict]) -> dict:
    """PROTOCOL.md section 3: the best mean validation NDCG@10, unless a cheaper run (CPU seconds) is
    not significantly worse on validation users by the paired test; repeated until none is."""
    rows = sorted(rows, key=lambda r: -r["metrics"]["validation"]["ndcg@10"])
    current = rows[0]

    def per_user(row):
        path = row["per_user_files"]["validation"]
        with np.load(path if os.path.isabs(path) else os.path.join(REPO, path)) as f:
            return f["ndcg@10"]

    while True:
        cheaper = [
            r
            for r in rows
            if r["cost"]["cpu_s"] < current["cost"]["cpu_s"]
            and significance.compare(per_user(current), per_user(r))["verdict"] != significance.WIN
        ]
        if not cheaper:
            return current
        current = cheaper[0]  # the best-scoring of them (rows are sorted)


def missing_runs(done: list[dict]) -> list[str]:
    """The declared runs of stages 1-4 not yet in `done` (each stage from the selection before it)."""
    names = {r["name"] for r in done}
    missing = []
    for stage in range(1, 5):
        earlier = [r for r in done if r["stage"] < stage]
        if stage > 1 and (missing or not earlier):
            return missing or ["stage 1"]
        wanted = stage_configs(stage, selected(earlier)["search_config"] if stage > 1 else None)
        missing += [run_name(c) for c in wanted if run_name(c) not in names]
    return missing


def headline_row(result: dict, dataset: str, protocol: str, seed: int, selection: dict) -> dict:
    """A trainer result as the row PROTOCOL.md section 6 asks for (make_tables.REQUIRED)."""
    return {
        **result,
        "dataset": dataset,
        "arm": "tuned-sasrec",
        "protocol": protocol,
        "seed": seed,
        "num_params": result["cost"]["num_params"],
        "wall_s_total": result["cost"]["wall_s"],
        "selected_from": selection,
    }


def load(dataset: str, raw_data_dir: str):
    from genrec.datasets import amazon, movielens

    folder = os.path.join(raw_data_dir, dataset)
    return (movielens if dataset.startswith("movielens") else amazon).load(folder, dataset)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="amazon-2014-beauty", choices=sorted(SHORT))
    parser.add_argument("--protocol", required=True, choices=["excluded", "kept"])
    parser.add_argument("--stage", type=int, default=1)
    parser.add_argument("--max_runs", type=int, default=None, help="stop after this many new runs")
    parser.add_argument(
        "--only",
        default=None,
        help="run only the stage's configurations whose name "
        "contains this (the stage is complete, and selects, once all have run)",
    )
    parser.add_argument(
        "--final",
        action="store_true",
        help="train the selected configuration per seed "
        "and score test (refused until the search is complete)",
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=None)
    parser.add_argument("--raw_data_dir", default=os.path.join(REPO, "..", "shared", "data"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = os.path.join(
        args.out or os.path.join(REPO, "benchmarks", "quality", f"sasrec_grid_{SHORT[args.dataset]}"),
        args.protocol,
    )
    os.makedirs(out, exist_ok=True)
    done = [json.load(open(os.path.join(out, f))) for f in sorted(os.listdir(out)) if f.endswith(".json")]
    base = None
    if args.stage > 1:
        earlier = [r for r in done if r["stage"] < args.stage]
        if args.stage == 2:  # stage 1 is fixed in advance; later stages follow from their selection
            missing = {run_name(c) for c in stage_configs(1)} - {r["name"] for r in earlier}
            if missing:
                raise SystemExit(
                    f"stage 1 is not complete ({len(missing)} of 27 runs missing, e.g. "
                    f"{sorted(missing)[0]}); stage 2 starts from its selection"
                )
        base = selected(earlier)["search_config"]
    dataset = load(args.dataset, args.raw_data_dir)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    protocol_commit = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--", "benchmarks/quality/PROTOCOL.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if args.final:
        missing = missing_runs(done)
        if missing:
            raise SystemExit(
                f"the search is not complete ({len(missing)} runs missing, e.g. {missing[0]}); "
                "test is scored only after selection (PROTOCOL.md section 4)"
            )
        choice = selected(done)
        final_dir = os.path.join(
            REPO, "benchmarks", "quality", "protocol_runs", SHORT[args.dataset], args.protocol
        )
        for seed in map(int, args.seeds.split(",")):
            model_config, train_config = split_config(
                choice["search_config"],
                args.protocol == "excluded",
                os.path.join(final_dir, f"tuned-sasrec_seed{seed}"),
                seed=seed,
                score_test=True,
            )
            before = uptime()
            result = trainer.run_sasrec(
                dataset, name="tuned-sasrec", model_config=model_config, train_config=train_config
            )
            row = headline_row(
                result, args.dataset, args.protocol, seed, {"run": choice["name"], "folder": out}
            )
            row.update(
                protocol_commit=protocol_commit,
                commit=commit,
                command=" ".join(["python -m benchmarks.quality.sasrec_grid"] + sys.argv[1:]),
                uptime_before=before,
                uptime_after=uptime(),
                per_user_files={k: os.path.relpath(v, REPO) for k, v in result["per_user_files"].items()},
            )
            with open(os.path.join(final_dir, f"tuned-sasrec_seed{seed}.json"), "w") as f:
                json.dump(row, f, indent=1)
        return
    finished = {r["name"] for r in done}
    new = 0
    for config in stage_configs(args.stage, base):
        name = run_name(config)
        if name in finished or (args.only and args.only not in name):
            continue
        if args.max_runs is not None and new >= args.max_runs:
            break
        model_config, train_config = split_config(
            config, args.protocol == "excluded", os.path.join(out, name)
        )
        before, start = uptime(), time.time()
        result = trainer.run_sasrec(dataset, name=name, model_config=model_config, train_config=train_config)
        row = {
            **result,
            "stage": args.stage,
            "search_config": config,
            "protocol_commit": protocol_commit,
            "commit": commit,
            "command": " ".join(["python -m benchmarks.quality.sasrec_grid"] + sys.argv[1:]),
            "uptime_before": before,
            "uptime_after": uptime(),
            "run_wall_s": time.time() - start,
            "per_user_files": {k: os.path.relpath(v, REPO) for k, v in result["per_user_files"].items()},
        }
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(row, f, indent=1)
        logging.info(
            "%s: validation NDCG@10 %.6f (epoch %d), %.0f CPU-s",
            name,
            row["metrics"]["validation"]["ndcg@10"],
            row["cost"]["best_epoch"],
            row["cost"]["cpu_s"],
        )
        new += 1


if __name__ == "__main__":
    main()
