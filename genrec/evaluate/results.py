"""results.json (the shared contract) and results.md: one table per task, one row per template."""

from __future__ import annotations

import json
import os
from typing import Optional

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
_NOTES = (
    "Recall@k = HR@k (one held-out target per user). Sequential: full-catalogue ranking by "
    "constrained beam search (or, where the run says `ranking=exact`, every item scored); direct: "
    "the target's rank among its candidates by exact "
    "log-likelihood. Ties count against the target; history items are kept or excluded as "
    "the run's `history` says (genrec/evaluate/protocol.py). BLEU-4 / ROUGE F1 are x100. "
    "Head = top 20% items by training popularity."
)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _table(rows: dict[str, dict]) -> list[str]:
    columns = []
    for metrics in rows.values():
        columns += [c for c in metrics if c not in columns]
    lines = ["| template | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(metrics.get(c, "")) for c in columns) + " |")
    return lines


# The summary table's columns: each family's headline metrics, where present.
HEADLINE = (
    "recall@5",
    "ndcg@5",
    "recall@10",
    "ndcg@10",
    "rmse",
    "mae",
    "bleu4",
    "rougeL",
    "accuracy",
    "coverage@10",
    "invalid_rate",
    "examples",
)


def summary(results: dict) -> list[str]:
    """One row per task (held-out-template tasks right under their seen twin), headline columns."""
    metrics = results["metrics"]
    columns = [c for c in HEADLINE if any(c in m for m in metrics.values())]
    seen = [t for t in metrics if not t.endswith("_heldout")]
    order = [x for t in seen for x in (t, t + "_heldout") if x in metrics]
    order += [t for t in metrics if t not in order]  # held-out tasks without a seen twin
    lines = ["| task | templates | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for task in order:
        kind = "held-out" if task.endswith("_heldout") else "seen"
        lines.append(
            f"| {task.removesuffix('_heldout')} | {kind} | "
            + " | ".join(_fmt(metrics[task].get(c, "")) for c in columns)
            + " |"
        )
    return lines


def markdown(results: dict) -> str:
    """A summary table, then per task the task's overall row and one per template."""
    run = results.get("run", {})
    lines = ["# Results: " + ", ".join(f"{k}={v}" for k, v in run.items()), "", _NOTES, ""]
    lines += summary(results) + [""]
    templates = results.get("templates", {})
    for task, metrics in results["metrics"].items():
        kind = "held-out templates (zero-shot)" if task.endswith("_heldout") else "seen templates"
        lines += [f"## {task} ({kind})", ""]
        lines += _table({"all": metrics, **templates.get(task, {})}) + [""]
    cost = results.get("cost")
    if cost:
        lines += [
            "## cost",
            "",
            "| " + " | ".join(cost) + " |",
            "|---" * len(cost) + "|",
            "| " + " | ".join(_fmt(v) for v in cost.values()) + " |",
            "",
        ]
    return "\n".join(lines)


def write_results(
    out_dir: str, run: dict, metrics: dict, cost: dict, templates: Optional[dict] = None
) -> dict:
    """Writes results.json + results.md under out_dir and returns the results dict."""
    results = {"run": run, "metrics": metrics, "cost": cost, "templates": templates or {}}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, RESULTS_JSON), "w") as f:
        json.dump(results, f, indent=2, sort_keys=False)
    with open(os.path.join(out_dir, RESULTS_MD), "w") as f:
        f.write(markdown(results))
    return results


def read_results(out_dir: str) -> dict:
    with open(os.path.join(out_dir, RESULTS_JSON)) as f:
        return json.load(f)
