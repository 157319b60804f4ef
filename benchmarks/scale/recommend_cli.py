"""`genrec recommend --histories` as a user runs it: one process per call, over a trained bundle, for
several checkouts of genrec in the same run (the first is the reference; the others must recommend the
same items to every user).

  nice -n 5 .venv/bin/python -m benchmarks.scale.recommend_cli --bundle=BUNDLE --users=20000 \
      --checkout=before=/path/to/old/checkout --checkout=after=. --out=benchmarks/scale/recommend_cli.json

Requests are `--users` of Beauty's users (seeded), each with every item but the last. Each checkout
runs `--repeats` times: the first call of a checkout compiles (and, where it has one, fills the
persistent compilation cache, here a fresh folder per checkout), later calls read it. Per call the
JSON records the throughput the command logs (users / seconds of its recommend loop), the process wall
time (start-up, imports, bundle load and writing the output included) and `uptime` before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.machine import uptime
from benchmarks.scale.rank_common import BEAUTY

LOGGED = re.compile(r"recommended for (\d+) users in ([\d.]+) s")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkout", action="append", required=True, help="NAME=DIR, repeatable, in order")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--extra", action="append", default=[], help="a flag for every call, repeatable")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def write_requests(path: str, users: int, seed: int) -> int:
    """`users` Beauty users drawn by `seed`, each with their items but the last, as request lines."""
    sequences: dict[str, list[tuple[int, str]]] = {}
    with open(BEAUTY) as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {name: header.index(name) for name in ("user_id", "seq_pos", "asin")}
        for line in f:
            row = line.rstrip("\n").split("\t")
            sequences.setdefault(row[col["user_id"]], []).append((int(row[col["seq_pos"]]), row[col["asin"]]))
    names = sorted(sequences)
    chosen = np.random.default_rng(seed).choice(len(names), size=min(users, len(names)), replace=False)
    with open(path, "w") as f:
        for u in chosen:
            history = [item for _, item in sorted(sequences[names[u]])][:-1]
            f.write(json.dumps({"user": names[u], "history": history}) + "\n")
    return len(chosen)


def call(checkout: str, bundle: str, requests: str, output: str, cache: str, extra: list[str]) -> dict:
    """One `genrec recommend` process run from `checkout`; its logged and whole-process throughput."""
    command = [sys.executable, "-m", "genrec.main", "recommend", f"--bundle={bundle}"]
    command += [f"--histories={requests}", f"--output={output}", *extra]
    env = dict(os.environ, GENREC_COMPILATION_CACHE=cache, JAX_COMPILATION_CACHE_DIR=cache)
    before, start = uptime(), time.perf_counter()
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: genrec recommend failed:\n{done.stderr[-3000:]}")
    users, seconds = LOGGED.search(done.stderr + done.stdout).groups()
    return {
        "users": int(users),
        "loop_s": float(seconds),
        "users_per_s": int(users) / float(seconds),
        "process_wall_s": wall,
        "process_users_per_s": int(users) / wall,
        "uptime_before": before,
        "uptime_after": uptime(),
    }


def recommended(path: str) -> list[list[str]]:
    with open(path) as f:
        return [[r["item"] for r in json.loads(line)["items"]] for line in f]


def main(argv=None):
    args = parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="recommend_cli_")
    requests = os.path.join(scratch, "requests.jsonl")
    users = write_requests(requests, args.users, args.seed)
    report = {
        "what": "genrec recommend --histories over a trained bundle, one process per call",
        "bundle": os.path.abspath(args.bundle),
        "users": users,
        "mean_history": None,
        "command": " ".join(sys.argv),
        "cpus": os.cpu_count(),
        "runs": [],
    }
    with open(requests) as f:
        report["mean_history"] = float(np.mean([len(json.loads(line)["history"]) for line in f]))
    reference = None
    for spec in args.checkout:
        name, checkout = spec.split("=", 1)
        cache = os.path.join(scratch, f"cache_{name}")
        output = os.path.join(scratch, f"recs_{name}.jsonl")
        calls = [
            call(checkout, args.bundle, requests, output, cache, args.extra) for _ in range(args.repeats)
        ]
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True)
        lists = recommended(output)
        reference = reference or lists
        same = float(np.mean([a == b for a, b in zip(lists, reference)]))
        report["runs"].append(
            {"name": name, "commit": commit.stdout.strip(), "calls": calls, "same_items": same}
        )
        print(name, [round(c["users_per_s"], 1) for c in calls], "same items", same, flush=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
