"""Markdown tables from committed result JSON only (benchmarks/quality/PROTOCOL.md, section 6).

  python -m benchmarks.quality.make_tables --rows 'benchmarks/quality/protocol_runs/*/*.json' \
      --grid benchmarks/quality/sasrec_grid_beauty --out benchmarks/quality/TABLES.md

Headline rows (one JSON per dataset / protocol / arm / seed) become one table per dataset and
protocol: mean +/- sd over seeds of each metric, how the arm ranks, the history items it reads, its
parameters and its wall time with identifiers and embeddings, then the paired test of every declared
comparison (significance.compare on per-user test values averaged over seeds). A grid folder (written
by sasrec_grid.py) becomes a table of its validation-only runs, the selected one in bold. Nothing is
typed in: every number printed is read from the JSON or computed from the arrays it names.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
from typing import Iterable

import numpy as np

from benchmarks.quality import sasrec_grid  # the selection rule
from genrec.evaluate import significance

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METRICS = ("recall@10", "ndcg@10")
HEADERS = {"recall@10": "Recall@10", "ndcg@10": "NDCG@10"}
# Comparisons printed under each table, A against B (the primary family first: PROTOCOL.md section 5).
COMPARISONS = (
    ("recipe", "tuned-sasrec"),
    ("recipe", "sasrec-ce"),
    ("tuned-sasrec", "sasrec-ce"),
    ("recipe", "most-popular"),
)
PER_USER = {"recall@10": "hit@10", "ndcg@10": "ndcg@10"}
REQUIRED = (
    "dataset",
    "arm",
    "protocol",
    "seed",
    "metrics",
    "ranking",
    "history_items_read",
    "num_params",
    "wall_s_total",
    "per_user_files",
)


def read_rows(paths: Iterable[str]) -> list[dict]:
    rows = []
    for path in sorted(paths):
        with open(path) as f:
            row = json.load(f)
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise ValueError(f"{path}: result row lacks {missing} (PROTOCOL.md section 6)")
        row["_path"] = path
        rows.append(row)
    return rows


def mean_sd(values: list[float]) -> str:
    values = np.asarray(values, np.float64)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.4f} ± {sd:.4f}" if len(values) > 1 else f"{values.mean():.4f} (1 seed)"


def per_user(row: dict, metric: str, root: str, split: str = "test") -> np.ndarray:
    path = row["per_user_files"][split]
    with np.load(path if os.path.isabs(path) else os.path.join(root, path)) as f:
        return f[PER_USER[metric]]


def comparison_line(a: str, b: str, va: np.ndarray, vb: np.ndarray, metric: str) -> str:
    """One table line: the paired test of per-user values `va` against `vb` (the same users)."""
    c = significance.compare(va, vb)
    boot, sign = c["bootstrap"], c["sign_test"]
    verdict = {
        significance.WIN: f"{a} wins",
        significance.LOSS: f"{b} wins",
        significance.NONE: "no significant difference",
    }[c["verdict"]]
    return (
        f"| {a} vs {b} | {HEADERS[metric]} | {boot['mean_difference']:+.5f} "
        f"[{boot['low']:+.5f}, {boot['high']:+.5f}] | {sign['positive']:,} / "
        f"{sign['negative']:,} | {sign['p_value']:.3g} | **{verdict}** |"
    )


def comparison_header(users: str) -> list[str]:
    return [
        "",
        f"| comparison ({users}) | metric | mean difference [95 % bootstrap] "
        "| users better / worse | sign-test p | verdict |",
        "|---|---|---|---|---|---|",
    ]


def comparison_lines(arms: dict[str, list[dict]], root: str) -> list[str]:
    out = []
    for a, b in COMPARISONS:
        if a not in arms or b not in arms:
            continue
        for metric in METRICS:
            va = significance.seed_mean([per_user(r, metric, root) for r in arms[a]])
            vb = significance.seed_mean([per_user(r, metric, root) for r in arms[b]])
            out.append(comparison_line(a, b, va, vb, metric))
    return comparison_header("test users, seed-averaged") + out if out else out


def validation_table(rows: list[dict], reference: str, root: str = REPO) -> list[str]:
    """Validation-only rows of one dataset and protocol (e.g. identifier variants of the recipe): the
    checkpoint each chose on validation, its metrics relative to the `reference` row's, and the paired
    test of each against the reference on the validation users' per-user values."""
    by_name = {r["name"]: r for r in rows}
    if reference not in by_name:
        raise ValueError(f"--reference {reference!r}: no such row among {sorted(by_name)}")
    ref = by_name[reference]["chosen_on_validation"]
    out = [
        "| row | dataset | seed | chosen step | validation Recall@10 | validation NDCG@10 "
        f"| Recall@10 vs {reference} | wall-min (with identifiers) | CPU-min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tests = []
    for r in rows:
        chosen = r["chosen_on_validation"]
        ratio = chosen["recall@10"] / ref["recall@10"] - 1.0
        out.append(
            f"| {r['name']} | {r['dataset']} | {r['seed']} | {chosen['step']} | {chosen['recall@10']:.4f} "
            f"| {chosen['ndcg@10']:.4f} | {ratio:+.1%} | {r['wall_s_total'] / 60:.1f} "
            f"| {r['cpu_s_total'] / 60:.1f} |"
        )
        if r["name"] != reference:
            for metric in METRICS:
                va, vb = (per_user(x, metric, root, "validation") for x in (r, by_name[reference]))
                tests.append(comparison_line(r["name"], reference, va, vb, metric))
    return out + (comparison_header("validation users, last checkpoint's per-user values") + tests)


def headline_tables(rows: list[dict], root: str = REPO) -> list[str]:
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        groups[(row["dataset"], row["protocol"])][row["arm"]].append(row)
    out = []
    for (dataset, protocol), arms in sorted(groups.items()):
        out += [
            f"### {dataset}, history {protocol}",
            "",
            "| arm | seeds | "
            + " | ".join(f"test {HEADERS[m]}" for m in METRICS)
            + " | ranking | history items read | parameters | wall time (with identifiers and embeddings) |",
            "|---|---|" + "---|" * (len(METRICS) + 4),
        ]
        for arm, arm_rows in sorted(arms.items()):
            seeds = sorted(r["seed"] for r in arm_rows)
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"{dataset}/{protocol}/{arm}: seed listed twice {seeds}")
            metrics = " | ".join(mean_sd([r["metrics"]["test"][m] for r in arm_rows]) for m in METRICS)
            walls = [r["wall_s_total"] for r in arm_rows]
            params = sorted({r["num_params"] for r in arm_rows})
            out.append(
                f"| {arm} | {', '.join(map(str, seeds))} | {metrics} | {arm_rows[0]['ranking']} | "
                f"{arm_rows[0]['history_items_read']} | {', '.join(f'{p:,}' for p in params)} | "
                f"{np.mean(walls) / 60:.1f} min (mean) |"
            )
        out += comparison_lines(arms, root) + [""]
    return out


def grid_table(folder: str) -> list[str]:
    """One table per protocol subfolder of a sasrec_grid.py folder, runs in search order, the run
    PROTOCOL.md's selection rule picks in bold."""
    out = []
    for protocol in sorted(os.listdir(folder)):
        sub = os.path.join(folder, protocol)
        files = sorted(glob.glob(os.path.join(sub, "*.json")))
        if not files:
            continue
        rows = [json.load(open(f)) for f in files]
        order = {sasrec_grid.run_name(c): i for i, c in enumerate(sasrec_grid.stage_configs(1))}
        rows.sort(key=lambda r: (r["stage"], order.get(r["name"], len(order)), r["name"]))
        best = sasrec_grid.selected(rows)["name"]
        out += [
            f"### {os.path.basename(folder.rstrip('/'))}, history {protocol} (validation only, seed 0)",
            "",
            "| stage | configuration | validation Recall@10 | validation NDCG@10 | best epoch / epochs "
            "| CPU-min | wall-min |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            v, c = r["metrics"]["validation"], r["cost"]
            name = f"**{r['name']}**" if r["name"] == best else r["name"]
            out.append(
                f"| {r['stage']} | {name} | {v['recall@10']:.4f} | {v['ndcg@10']:.4f} | "
                f"{c['best_epoch']} / {c['epochs']} | {c['cpu_s'] / 60:.1f} | {r['run_wall_s'] / 60:.1f} |"
            )
        total = sum(r["cost"]["cpu_s"] for r in rows) / 3600
        missing = sasrec_grid.missing_runs(rows)
        status = (
            f"The search is incomplete ({len(missing)} declared runs of the current stage missing): the bold "
            "run is the rule's pick among the runs present, not a selection."
            if missing
            else "The search is complete: the bold run is the selection."
        )
        out += [
            "",
            f"{len(rows)} runs, {total:.2f} CPU-hours spent of the budget (PROTOCOL.md section 7). " + status,
            "",
        ]
    return out


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", action="append", default=[], help="glob of headline row JSON files")
    parser.add_argument("--grid", action="append", default=[], help="a sasrec_grid.py output folder")
    parser.add_argument("--validation", default=None, help="glob of validation-only recipe row JSON files")
    parser.add_argument("--reference", default=None, help="with --validation: the row compared against")
    parser.add_argument("--out", default=None, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    rows = read_rows(p for pattern in args.rows for p in glob.glob(pattern, recursive=True))
    command = "python -m benchmarks.quality.make_tables " + " ".join(
        [f"--rows '{r}'" for r in args.rows]
        + [f"--grid {g}" for g in args.grid]
        + ([f"--validation '{args.validation}' --reference {args.reference}"] if args.validation else [])
    )
    lines = [
        "<!-- generated by benchmarks/quality/make_tables.py from committed JSON; do not edit -->",
        f"Command: `{command}`",
        "",
    ]
    if rows:
        lines += ["## Headline rows (PROTOCOL.md)", ""] + headline_tables(rows)
    for folder in args.grid:
        lines += grid_table(folder)
    if args.validation:
        lines += validation_table(read_rows(glob.glob(args.validation)), args.reference) + [""]
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return text


if __name__ == "__main__":
    main()
