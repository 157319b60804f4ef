"""One result row (PROTOCOL.md section 6) from a finished `genrec.main` run of the recipe.

  python -m benchmarks.quality.recipe_row --workdir=/work/runs/beauty_excl_s0 --name=recipe_minilm \
      --protocol=excluded --out_dir=benchmarks/quality/recipe_search_beauty/excluded \
      --command="benchmarks/quality/recipe_stages.sh beauty_excl_s0 ..."

The run's stages were timed by `/usr/bin/time -v -o <workdir>/time_<stage>.txt` (recipe_stages.sh; every
such file counts, e.g. a later `time_eval_validation.txt`).
The row carries: the validation curve and the chosen step (train_summary.json), the validation or
test metrics of the chosen checkpoint (<workdir>/<eval dir>/results.json, one per split scored), the
per-user arrays copied beside the row, every stage's wall and CPU seconds, the gin config the train
stage ran with, and `uptime` before and after. Nothing is rounded.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess

from genrec.train.selection import best_point

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stage_time(path: str) -> dict:
    """Wall, user + system CPU seconds and peak memory from a `/usr/bin/time -v` report."""
    with open(path) as f:
        text = f.read()

    def field(label: str) -> str:
        match = re.search(rf"{re.escape(label)}: (.+)", text)
        if not match:
            raise ValueError(f"{path}: no '{label}' line (expected /usr/bin/time -v output)")
        return match.group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall_s": wall,
        "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)")),
        "max_rss_kb": int(field("Maximum resident set size (kbytes)")),
        "exit_status": int(field("Exit status")),
    }


def history_items_read(operative_config: str) -> int:
    """The history length the model reads (`ParallelIdConfig.max_len` in the train stage's config)."""
    match = re.search(r"^ParallelIdConfig\.max_len = (\d+)$", operative_config, re.MULTILINE)
    if not match:
        raise ValueError("the train stage's operative config sets no ParallelIdConfig.max_len")
    return int(match.group(1))


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def row(workdir: str, name: str, protocol: str, seed: int, command: str, eval_dirs=("eval",)) -> dict:
    """The row of the run in `workdir`; `eval_dirs`: its eval outputs (one per split scored)."""
    with open(os.path.join(workdir, "train_summary.json")) as f:
        summary = json.load(f)
    chosen = best_point(summary["validation"])
    stages = {
        os.path.basename(p)[len("time_") : -len(".txt")]: stage_time(p)
        for p in sorted(glob.glob(os.path.join(workdir, "time_*.txt")))
    }
    failed = [s for s, t in stages.items() if t["exit_status"] != 0]
    if failed:
        raise ValueError(f"{workdir}: stage(s) {failed} exited non-zero; no row from a failed run")
    operative_config = read(os.path.join(workdir, "operative_config.train.gin"))
    metrics, groups, per_user, evaluated = {}, {}, {}, None
    for eval_dir in eval_dirs:
        with open(os.path.join(workdir, eval_dir, "results.json")) as f:
            results = json.load(f)
        split = results["run"]["split"]
        model_rows = [k for k in results["metrics"] if not k.startswith("most_popular")]
        main_row = min(model_rows, key=len)  # the model's row; cold-start groups add " [group]" rows
        metrics[split] = results["metrics"][main_row]
        groups[split] = {k: v for k, v in results["metrics"].items() if k != main_row}
        per_user[split] = os.path.join(eval_dir, results["run"]["per_user_files"][0])
        evaluated = results
    return {
        "name": name,
        "arm": "recipe",
        "dataset": evaluated["run"]["dataset"],
        "protocol": protocol,
        "seed": seed,
        "command": command,
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip(),
        "checkpoint_step": evaluated["run"]["checkpoint_step"],
        "chosen_on_validation": chosen,
        "metrics": metrics,
        "groups": groups,
        "ranking": evaluated["run"]["ranking"],
        "users_scored": evaluated["run"]["users"],
        "history_items_read": history_items_read(operative_config),
        "num_params": summary["num_params"],
        "train_steps": summary["steps"],
        "stages": stages,
        "wall_s_total": sum(t["wall_s"] for t in stages.values()),
        "cpu_s_total": sum(t["cpu_s"] for t in stages.values()),
        "uptime_before": read(os.path.join(workdir, "uptime_before.txt")),
        "uptime_after": read(os.path.join(workdir, "uptime_after.txt")),
        "validation_history": summary["validation"],
        "operative_config": operative_config,
        "per_user_files": per_user,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--protocol", choices=("kept", "excluded"), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--command", required=True, help="the command that ran the stages")
    parser.add_argument("--eval_dir", action="append", help="eval output folder(s) under the workdir")
    args = parser.parse_args(argv)
    result = row(args.workdir, args.name, args.protocol, args.seed, args.command, args.eval_dir or ["eval"])
    os.makedirs(args.out_dir, exist_ok=True)
    per_user = result["per_user_files"]
    for split, file in per_user.items():
        target = os.path.join(args.out_dir, f"{args.name}_seed{args.seed}_{os.path.basename(file)}")
        shutil.copyfile(os.path.join(args.workdir, file), target)
        per_user[split] = os.path.relpath(target, REPO)
    path = os.path.join(args.out_dir, f"{args.name}_seed{args.seed}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(path)
    return result


if __name__ == "__main__":
    main()
