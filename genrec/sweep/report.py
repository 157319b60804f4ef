"""A finished (or partial) sweep → REPORT.md with its tables and figures.

  python -m genrec.sweep.report --sweep_dir=sweeps/sizes [--family=sequential --metric=recall@10]

Writes into the sweep folder: REPORT.md, table.md / table.csv (one row per run: axes, the family's
metrics, cost), all_metrics.csv (every task and metric of every run) and figures/*.png.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
from typing import Sequence

from genrec.sweep import collect, plots, tables

DEFAULT_METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr")
NOTES = """\
- Recall@k equals HR@k under leave-one-out (one held-out target per user); metrics are those of each
  run's `eval/results.json`, on the test split, seen templates unless marked held-out.
- `train_fraction` keeps the training sequences of that fraction of users (a fixed random subset,
  nested across fractions; genrec/sweep/subsample.py); validation and test always hold every user.
- Cost columns come from results.json `cost` (or train_summary.json): device, steps, training wall
  time and FLOPs (analytic), decode latency per user. Stage wall times are the sweep runner's clocks.
- The frontier figures draw the Pareto frontier: runs no cheaper run beats on quality."""


def write_report(
    sweep_dir: str,
    family: str = "sequential",
    metric: str = "recall@10",
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> str:
    sweep, records = collect.collect(sweep_dir)
    axes = list(sweep["grid"])
    metrics = list(dict.fromkeys([metric, *metrics]))  # the headline metric first
    header, rows = tables.per_run(axes, records, family, metrics)
    tables.write_csv(os.path.join(sweep_dir, "table.csv"), header, rows)
    with open(os.path.join(sweep_dir, "table.md"), "w") as f:
        f.write(tables.markdown(header, rows))
    tables.write_csv(os.path.join(sweep_dir, "all_metrics.csv"), *tables.every_metric(axes, records))
    figures = _figures(sweep_dir, records, family, metric)

    counts = collections.Counter(r.status.split(":")[0] for r in records)
    lines = [
        f"# Sweep report: {sweep['name']}",
        "",
        f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} from `{sweep_dir}`.",
        "",
        f"- sweep file: `{sweep.get('source', '')}`",
        f"- base experiment: {', '.join(f'`{g}`' for g in sweep['base_gin_files'])}",
        f"- run modes: {', '.join(sweep['run_modes'])}",
        f"- bindings for every run: {', '.join(f'`{b}`' for b in sweep['bindings']) or 'none'}",
        "- grid: " + "; ".join(f"`{k}` ∈ {_values(v)}" for k, v in sweep["grid"].items()),
        "- runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
        "",
        "## Runs: device, steps, wall time",
        "",
        tables.markdown(*_cost_table(axes, records)),
        f"## Quality: {family} (seen templates), one row per run",
        "",
        tables.markdown(*tables.per_run(axes, records, family, metrics, with_cost=False)),
    ]
    if "seed" in axes and len(sweep["grid"]["seed"]) > 1:
        lines += [
            "## Mean ± std over seeds",
            "",
            tables.markdown(*tables.over_seeds(axes, records, family, metrics)),
        ]
    lines += ["## Figures", ""]
    for title, result in figures.items():
        if result.endswith(".png"):
            lines += [f"### {title}", "", f"![{title}]({os.path.relpath(result, sweep_dir)})", ""]
        else:
            lines += [f"### {title}", "", f"_Not drawn: {result}._", ""]
    lines += [
        "## Notes",
        "",
        NOTES,
        "",
        "Files: `table.md`, `table.csv`, `all_metrics.csv`, `figures/`, and per run "
        "`runs/<run>/eval/results.{json,md}`, `runs/<run>/logs/`.",
        "",
    ]
    path = os.path.join(sweep_dir, "REPORT.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def _values(values) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"


def _cost_table(axes: Sequence[str], records: Sequence[collect.RunRecord]):
    header = [
        "run",
        "status",
        "device",
        "devices",
        "steps",
        "train wall s",
        "stage wall s",
        "train FLOPs",
        "params",
        "decode ms/user",
    ]
    rows = [
        [
            r.name,
            r.status,
            r.cost.get("device_kind"),
            r.cost.get("num_devices"),
            r.cost.get("train_steps"),
            r.cost.get("train_wall_s"),
            ", ".join(f"{m} {s:.0f}" for m, s in r.stage_wall_s.items() if s is not None),
            r.cost.get("train_flops"),
            r.cost.get("num_params"),
            r.cost.get("decode_ms_per_user"),
        ]
        for r in records
    ]
    return header, rows


def _figures(sweep_dir: str, records, family: str, metric: str) -> dict[str, str]:
    """Title → PNG path, or the reason the figure was not drawn."""
    out = os.path.join(sweep_dir, "figures")
    finished = [r for r in records if r.status == "finished"]
    jobs = {
        "Quality against training FLOPs": lambda: plots.frontier(
            finished, "train_flops", "training FLOPs", family, metric, os.path.join(out, "frontier_flops.png")
        ),
        "Quality against decode latency per user": lambda: plots.frontier(
            finished,
            "decode_ms_per_user",
            "decode ms per user",
            family,
            metric,
            os.path.join(out, "frontier_latency.png"),
        ),
        "Sample efficiency": lambda: plots.sample_efficiency(
            finished, family, metric, os.path.join(out, "sample_efficiency.png")
        ),
        "Multi-task against single-task": lambda: plots.by_family(
            finished, os.path.join(out, "multitask.png"), compare="mixture"
        ),
        "Seen against held-out templates": lambda: plots.by_family(
            finished, os.path.join(out, "seen_heldout.png"), compare="templates"
        ),
    }
    results = {}
    for title, draw in jobs.items():
        try:
            results[title] = draw()
        except plots.Skip as e:
            results[title] = str(e)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Turn a finished sweep into REPORT.md.")
    parser.add_argument("--sweep_dir", required=True)
    parser.add_argument("--family", default="sequential", help="Task family of the headline metric.")
    parser.add_argument("--metric", default="recall@10", help="Headline metric (figures).")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="Table columns.")
    args = parser.parse_args(argv)
    print(write_report(args.sweep_dir, args.family, args.metric, args.metrics.split(",")))


if __name__ == "__main__":
    main()
