"""Beauty item cold-start, LIGER's split: the encoder-decoder (TIGER's task, trie-constrained beam
search) trained on the split, its checkpoint chosen on validation, test scored once, by group.

    W=/work/runs/tiger_cold_liger_s0   # trained by recipe_stages.sh, see RESULTS.md "Cold start"
    nice -n 5 python -m benchmarks.quality.cold_start_tiger --workdir=$W \
        --out benchmarks/quality/cold_start_tiger_beauty.json
    python -m benchmarks.quality.cold_start_tiger --table \
        --out benchmarks/quality/cold_start_tiger_beauty.json

Every checkpoint of the run is decoded for the first `--validation_users` validation users (beam 20,
history kept, as TIGER and LIGER report); the best all-users NDCG@10 (the earlier step on a tie) is
then decoded once for every test user. The groups (cold targets, warm targets, users with at most 4
history items) come from the evaluator's rows `<task> [<group>]` (genrec/evaluate/cold_start.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from benchmarks.machine import uptime
from benchmarks.quality import cold_prior
from genrec.runtime import checkpoints
from genrec.sweep import stage as sweep_stage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT = "configs/experiments/tiger_beauty.gin"
SPLIT_GIN = "configs/runs/cold_start_liger.gin"
TASK = "genrec_amazon_2014_beauty_tiger_sequential"


def groups_of(results: dict) -> dict:
    """{group: {recall@10, ndcg@10, examples}} from an eval's results.json, 'all' included."""
    metrics = results["metrics"]
    out = {"all": metrics[TASK]}
    for group in cold_prior.GROUPS[1:]:
        out[group] = metrics[f"{TASK} [{group}]"]
    return {g: {k: m.get(k, 0.0) for k in ("recall@10", "ndcg@10", "examples")} for g, m in out.items()}


def evaluate(workdir: str, out_dir: str, bindings: list[str]) -> tuple[dict, float]:
    """`genrec.main --run_mode=eval` of the run's checkpoints into out_dir; (results.json, wall s)."""
    args = [
        f"--gin_file={EXPERIMENT}",
        f"--gin_file={SPLIT_GIN}",
        "--run_mode=eval",
        f"--workdir={out_dir}",
        f"--data_dir={os.path.join(workdir, '..', 'tfds')}",
        f"--checkpoint_dir={os.path.join(workdir, 'checkpoints')}",
        f"--gin_bindings=evaluate.tasks = ['{TASK}']",
    ] + [f"--gin_bindings={b}" for b in bindings]
    code, wall = sweep_stage.run_stage(args, os.path.join(out_dir, "eval.log"), cwd=REPO)
    if code:
        raise RuntimeError(f"eval failed with exit code {code}; see {os.path.join(out_dir, 'eval.log')}")
    with open(os.path.join(out_dir, "eval", "results.json")) as f:
        return json.load(f), wall


def table(path: str) -> str:
    with open(path) as f:
        record = json.load(f)
    step = record["selection"]["best_step"]
    lines = [f"| model | split | {cold_prior.GROUP_HEADER} |", "|---|---|" + "---|" * len(cold_prior.GROUPS)]
    for split, groups in record["groups"].items():
        lines.append(
            f"| encoder-decoder, beam 20 (step {step}) | {split} | {cold_prior.group_cells(groups)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the JSON record (with --table: the one to print)")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --out, then exit")
    parser.add_argument("--workdir", help="the trained run (checkpoints/, train_summary.json)")
    parser.add_argument("--validation_users", type=int, default=1000)
    args = parser.parse_args()
    if args.table:
        return print(table(args.out))
    record = {
        "command": " ".join(["python -m", __spec__.name] + sys.argv[1:]),
        "experiment": [EXPERIMENT, SPLIT_GIN],
        "uptime_before": uptime(),
    }
    curve, select_wall = {}, 0.0
    for step in checkpoints.saved_steps(os.path.join(args.workdir, "checkpoints")):
        results, wall = evaluate(
            args.workdir,
            os.path.join(args.workdir, "select", f"step_{step}"),
            [
                "evaluate.split = 'validation'",
                f"evaluate.step = {step}",
                f"evaluate.max_eval_examples = {args.validation_users}",
            ],
        )
        curve[step], select_wall = groups_of(results), select_wall + wall
        print(f"step {step}: validation {json.dumps(curve[step]['all'])}", flush=True)
    best = max(curve, key=lambda s: (curve[s]["all"]["ndcg@10"], -s))
    test, test_wall = evaluate(args.workdir, os.path.join(args.workdir, "test"), [f"evaluate.step = {best}"])
    with open(os.path.join(args.workdir, "train_summary.json")) as f:
        train = json.load(f)
    record.update(
        selection={
            "metric": "all-users validation NDCG@10",
            "validation_users": args.validation_users,
            "best_step": best,
            "curve": {str(s): g["all"]["ndcg@10"] for s, g in curve.items()},
        },
        groups={"validation": curve[best], "test": groups_of(test)},
        test_run=test["run"],
        test_cost=test["cost"],
        train={
            k: train.get(k) for k in ("steps", "wall_s", "cumulative_wall_s", "num_params", "total_flops")
        },
        wall_s={"select": select_wall, "test": test_wall},
        uptime_after=uptime(),
    )
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(table(args.out))


if __name__ == "__main__":
    main()
