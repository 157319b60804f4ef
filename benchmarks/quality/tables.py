"""Rows (baseline results, the genrec run's results.json, published numbers) → markdown tables."""

from __future__ import annotations

from typing import Optional

from benchmarks.quality import published

RANKING = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
REPEATS = "history@10"  # share of top-10 slots holding items the user already had
RATING = ("rmse", "mae")
HEADERS = {
    "recall@5": "Recall@5",
    "recall@10": "Recall@10",
    "ndcg@5": "NDCG@5",
    "ndcg@10": "NDCG@10",
    REPEATS: "history items in top 10",
    "rmse": "RMSE",
    "mae": "MAE",
}


def _task(metrics: dict, family: str) -> Optional[str]:
    """The task key of a family in genrec's results.json (`genrec_<dataset>_<family>`)."""
    exact = [k for k in metrics if k.endswith(f"_{family}")]
    return exact[0] if exact else None


def genrec_row(results: dict, stage_wall_s: dict, name: str = "genrec-tiger") -> dict:
    """genrec's <workdir>/eval/results.json → a row like the baselines' (test metrics + cost)."""
    metrics, cost = results.get("metrics", {}), results.get("cost", {})
    test = {}
    for family in ("sequential", "item_sequences", "rating"):
        key = _task(metrics, family)
        if key:
            test.update(metrics[key])
    if not test:
        return {
            "name": name,
            "missing": f"results.json has no sequential or rating task (tasks: {sorted(metrics)})",
        }
    # A train stage that found the run finished (trained earlier, resumed) took seconds here; the
    # training it stands for took the checkpoint's train_wall_s.
    walls = dict(stage_wall_s)
    if "train" in walls:
        walls["train"] = max(walls["train"], cost.get("train_wall_s") or 0.0)
    wall = sum(walls.values())
    return {
        "name": name,
        "metrics": {"test": test},
        "run": results.get("run", {}),
        "cost": {
            "steps": cost.get("train_steps"),
            "train_wall_s": cost.get("train_wall_s"),
            "device_kind": cost.get("device_kind"),
            "num_devices": cost.get("num_devices"),
            "stage_wall_s": stage_wall_s,
            "wall_s": wall,
        },
    }


def best_step(validation: dict[int, float]) -> int:
    """The checkpoint step with the highest validation metric; the earlier one of a tie."""
    return max(sorted(validation), key=lambda step: validation[step])


def _num(x, fmt="{:.4f}") -> str:
    return "—" if x is None else fmt.format(x)


def _compute(row: dict) -> str:
    c = row.get("cost", {})
    parts = []
    if c.get("epochs"):
        parts.append(f"{c['epochs']} epochs (best {c.get('best_epoch', '?')})")
    if c.get("steps"):
        parts.append(
            f"{c['steps']:,} steps"
            + (f" (best {c['best_step']:,} on validation)" if c.get("best_step") else "")
        )
    if c.get("train_wall_s"):
        parts.append(f"{c['train_wall_s'] / 60:.1f} min train")
    if c.get("train_cpu_s"):
        parts.append(f"{c['train_cpu_s'] / 60:.1f} CPU-min train")
    if c.get("wall_s"):
        parts.append(f"{c['wall_s'] / 60:.1f} min total")
    if c.get("device_kind"):
        parts.append(f"{c.get('num_devices', 1)}× {c['device_kind']}")
    return ", ".join(parts) or "no training"


def ranking_label(row: dict, split: str = "test") -> str:
    """How a row ranked the catalogue and how many users it scored: baselines and the parallel-digit
    model score every item exactly; the encoder-decoder decodes a trie-constrained beam (an item
    outside the beam is a miss), on the first `max_eval_examples` users when that was set."""
    run = row.get("run", {})
    if "beam_size" in run and "ranking" not in run:
        how = f"beam {run['beam_size']} (trie)"
    else:
        how = "exact, every item"
    users = run.get("users") or row["metrics"][split].get("examples")
    return f"{how}, {users:,} users" if users else f"{how}, every user"


def _table(rows: list[dict], columns, published_rows: list[dict], split: str = "test") -> list[str]:
    head = "| model | " + " | ".join(HEADERS[c] for c in columns) + " | ranking | compute |"
    out = [head, "|" + "---|" * (len(columns) + 3)]
    for row in rows:
        if "missing" in row:
            out.append(
                f"| {row['name']} | "
                + " | ".join("—" for _ in columns)
                + f" | — | NOT RUN: {row['missing']} |"
            )
            continue
        test = row["metrics"][split]
        if not any(c in test for c in columns):
            continue
        out.append(
            f"| {row['name']} | "
            + " | ".join(_num(test.get(c)) for c in columns)
            + f" | {ranking_label(row, split)} | {_compute(row)} |"
        )
    for p in published_rows:
        out.append(f"| *{p['name']}* | " + " | ".join(_num(p.get(c)) for c in columns) + " | — | published |")
    return out


def target_lines(dataset: str, rows: list[dict]) -> list[str]:
    out = []
    by_name = {r["name"]: r for r in rows if "metrics" in r}
    for name, metric, value, tolerance in published.TARGETS.get(dataset, []):
        if name not in by_name:
            out.append(f"- {name}: not run (target {metric} {value})")
            continue
        row = by_name[name]
        target = f"the {tolerance:.0%} target" if tolerance else "the target: at or above the published value"

        def verdict(ours: float) -> str:
            gap = ours / value - 1.0
            return f"{gap:+.1%} ({'meets' if gap >= -tolerance else 'does NOT meet'} {target})"

        ours = row["metrics"]["test"][metric]
        line = f"- {name} {metric} = {ours:.4f} vs published {value:.4f}: {verdict(ours)}"
        other = row["metrics"].get("test_other_protocol", {}).get(metric)
        if other is not None:
            excluded = not row.get("config", {}).get("exclude_history", False)
            line += (
                f"; with history items {'excluded' if excluded else 'kept'}: {other:.4f}, {verdict(other)}"
            )
        out.append(line)
    return out


def markdown(dataset: str, budget: str, rows: list[dict], published_rows: list[dict], command: str) -> str:
    lines = [
        f"# Quality benchmark: {dataset} ({budget} budget)",
        "",
        f"Command: `{command}`",
        "",
        "Test split, leave-one-out, history items kept in the ranking; ties count against the "
        "target. The ranking column says how each row ranked the catalogue (exact: every item "
        "scored; beam: trie-constrained beam search, targets outside the beam are misses) and "
        "how many test users it scored (ARCHITECTURE.md, Evaluation protocol).",
        "",
        "## Sequential recommendation",
        "",
    ]
    rank_rows = [r for r in rows if "missing" in r or any(c in r["metrics"]["test"] for c in RANKING)]
    lines += _table(rank_rows, RANKING + (REPEATS,), published_rows)
    lines += [""] + target_lines(dataset, rows)
    other = [r for r in rank_rows if "test_other_protocol" in r.get("metrics", {})]
    if other:
        lines += [
            "",
            "The same parameters under the other protocol (history items excluded where the "
            "table above keeps them, and the reverse):",
            "",
        ]
        lines += _table(other, RANKING + (REPEATS,), [], split="test_other_protocol")
    rating_rows = [r for r in rows if "metrics" in r and "rmse" in r["metrics"]["test"]]
    if rating_rows:
        lines += ["", "## Rating prediction (rating of each user's held-out item)", ""]
        lines += _table(rating_rows, RATING, [])
    return "\n".join(lines) + "\n"
