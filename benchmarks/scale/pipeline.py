"""Every stage of the million-item pipeline, timed: data, build_ids, train, eval, export, recommend.

Each stage is its own `python -m genrec.main` process with the experiment's gin file (the way a
user runs it), so a stage's wall time includes its start-up, imports and dataset load. Before
`recommend`, a request file of a seeded sample of users' full histories is written (timed apart, not a
stage). The JSON records each stage's wall time, the load average (`uptime`) before and after it, and
the command line.

  nice -n 10 python -m benchmarks.scale.pipeline --dataset=synthetic-1m --workdir=workdir/synthetic_1m
  nice -n 10 python -m benchmarks.scale.pipeline --dataset=synthetic-100k --workdir=/tmp/p100k

writes benchmarks/scale/pipeline_<dataset>.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from benchmarks.machine import uptime
from genrec import datasets

EXPERIMENT = "configs/experiments/parallel_ids_synthetic_1m.gin"
STAGES = ("data", "build_ids", "train", "eval", "export", "recommend")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthetic-1m", help="load_dataset.name")
    p.add_argument("--workdir", required=True)
    p.add_argument("--data_dir", default=None, help="prepared datasets (default <workdir>/../tfds)")
    p.add_argument("--gin_file", default=EXPERIMENT)
    p.add_argument("--gin", action="append", default=[], help="extra binding NAME=VALUE, repeatable")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in order")
    p.add_argument("--requests", type=int, default=2000, help="users in the recommend request file")
    p.add_argument("--seed", type=int, default=0, help="seed of the request users")
    p.add_argument("--out", default=None, help="default benchmarks/scale/pipeline_<dataset>.json")
    return p.parse_args(argv)


def write_requests(dataset_name: str, data_dir: str, path: str, users: int, seed: int) -> dict:
    """A JSON-lines request file: `users` users drawn by `seed`, each with its full history."""
    start = time.perf_counter()
    dataset = datasets.load(dataset_name, data_dir=data_dir)
    loaded = time.perf_counter() - start
    chosen = np.sort(np.random.default_rng(seed).permutation(len(dataset.users))[:users])
    source_ids = dataset.items.source_ids
    with open(path, "w") as f:
        for u in chosen:
            user = dataset.users[u]
            f.write(json.dumps({"user": user.user_id, "history": [source_ids[i] for i in user.items]}) + "\n")
    return {
        "users": len(chosen),
        "seed": seed,
        "dataset_load_s": loaded,
        "wall_s": time.perf_counter() - start,
    }


def stage_command(stage: str, args, data_dir: str, bundle: str, requests: str) -> list[str]:
    base = [sys.executable, "-m", "genrec.main", f"--workdir={args.workdir}", f"--data_dir={data_dir}"]
    gin = [f"--gin_file={args.gin_file}", f"--gin.load_dataset.name='{args.dataset}'"]
    gin += [f"--gin.{b}" for b in args.gin]
    if stage == "recommend":
        output = os.path.join(args.workdir, "recommendations.jsonl")
        return (
            base + gin + ["recommend", f"--bundle={bundle}", f"--histories={requests}", f"--output={output}"]
        )
    extra = [f"--bundle={bundle}"] if stage == "export" else []
    return base + gin + [f"--run_mode={stage}"] + extra


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    data_dir = os.path.abspath(args.data_dir or os.path.join(args.workdir, "..", "tfds"))
    bundle = os.path.join(args.workdir, "bundle")
    requests = os.path.join(args.workdir, "requests.jsonl")
    out = args.out or os.path.join(os.path.dirname(__file__), f"pipeline_{args.dataset}.json")
    record = {
        "dataset": args.dataset,
        "gin_file": args.gin_file,
        "extra_bindings": args.gin,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "note": "wall times on a shared CPU: compare with the load averages beside them",
        "stages": {},
    }
    total = time.perf_counter()
    for stage in args.stages.split(","):
        if stage not in STAGES:
            raise SystemExit(f"unknown stage {stage!r}; expected some of {STAGES}")
        if stage == "recommend":
            record["requests"] = write_requests(args.dataset, data_dir, requests, args.requests, args.seed)
        command = stage_command(stage, args, data_dir, bundle, requests)
        before, start = uptime(), time.perf_counter()
        print(f"[pipeline] {stage}: {' '.join(command)}", flush=True)
        done = subprocess.run(command)
        seconds = time.perf_counter() - start
        record["stages"][stage] = {
            "wall_s": seconds,
            "returncode": done.returncode,
            "uptime_before": before,
            "uptime_after": uptime(),
            "command": " ".join(command),
        }
        print(f"[pipeline] {stage}: {seconds:.1f} s, exit {done.returncode}", flush=True)
        with open(out, "w") as f:
            json.dump(record, f, indent=1)
        if done.returncode != 0:
            raise SystemExit(f"stage {stage} failed (exit {done.returncode}); partial record in {out}")
    record["total_wall_s"] = time.perf_counter() - total
    record["results"] = collect(args.workdir, bundle)
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"[pipeline] total {record['total_wall_s']:.1f} s -> {out}")
    return record


def collect(workdir: str, bundle: str) -> dict:
    """What the stages wrote that the record should carry: eval metrics and users scored, the
    identifiers' collision stats, training summary, and the index's recall."""
    out = {}
    for key, path in (
        ("eval", os.path.join(workdir, "eval", "results.json")),
        ("train", os.path.join(workdir, "train_summary.json")),
        ("index", os.path.join(bundle, "index", "index.json")),
    ):
        if os.path.exists(path):
            with open(path) as f:
                out[key] = json.load(f)
    stats = os.path.join(workdir, "semantic_ids", "stats.json")
    if os.path.exists(stats):
        with open(stats) as f:
            s = json.load(f)
        out["build_ids"] = {k: s.get(k) for k in ("wall_s", "level_sizes", "largest_group", "fit_items")}
    if "train" in out:
        out["train"].pop("curve", None)
    return out


if __name__ == "__main__":
    main()
