"""benchmarks/quality/make_tables.py: tables come from the JSON rows and their per-user arrays only."""

import json
import os

import numpy as np
import pytest

from benchmarks.quality import make_tables


def write_row(folder, arm, seed, hits, ndcg_scale=0.5):
    hits = np.asarray(hits, np.float64)
    per_user = {"hit@10": hits, "ndcg@10": hits * ndcg_scale}
    npz = os.path.join(folder, f"{arm}_{seed}.npz")
    np.savez(npz, **per_user)
    row = {
        "dataset": "toy",
        "arm": arm,
        "protocol": "excluded",
        "seed": seed,
        "metrics": {"test": {"recall@10": float(hits.mean()), "ndcg@10": float(hits.mean() * ndcg_scale)}},
        "ranking": "exact over the catalogue",
        "history_items_read": 50,
        "num_params": 1234,
        "wall_s_total": 600.0 + seed * 60,
        "per_user_files": {"test": npz},
    }
    path = os.path.join(folder, f"{arm}_{seed}.json")
    with open(path, "w") as f:
        json.dump(row, f)
    return row


def test_headline_table_mean_sd_and_paired_verdict(tmp_path):
    rng = np.random.default_rng(0)
    recipe = [(rng.random(400) < 0.5).astype(float) for _ in range(3)]
    sasrec = [np.zeros(400) for _ in range(3)]
    sasrec[0][:8] = 1.0
    for seed in range(3):
        write_row(str(tmp_path), "recipe", seed, recipe[seed])
        write_row(str(tmp_path), "tuned-sasrec", seed, sasrec[seed])
    text = make_tables.main(["--rows", str(tmp_path / "*.json")])
    means = np.array([r.mean() for r in recipe])
    expected = f"{means.mean():.4f} ± {means.std(ddof=1):.4f}"
    assert f"| recipe | 0, 1, 2 | {expected} |" in text
    assert "exact over the catalogue | 50 | 1,234 | 11.0 min (mean)" in text
    assert "**recipe wins**" in text and "tuned-sasrec wins" not in text
    assert "recipe vs most-popular" not in text  # no such arm: no comparison invented


def test_close_arms_are_no_significant_difference(tmp_path):
    base = (np.arange(300) % 3 == 0).astype(float)
    other = base.copy()
    other[[1, 2]] = 1.0  # two users apart
    write_row(str(tmp_path), "recipe", 0, other)
    write_row(str(tmp_path), "tuned-sasrec", 0, base)
    text = make_tables.main(["--rows", str(tmp_path / "*.json")])
    assert "(1 seed)" in text and "**no significant difference**" in text


def test_row_without_protocol_fields_is_refused(tmp_path):
    with open(tmp_path / "bad.json", "w") as f:
        json.dump({"dataset": "toy", "arm": "recipe"}, f)
    with pytest.raises(ValueError, match="bad.json: result row lacks"):
        make_tables.main(["--rows", str(tmp_path / "*.json")])


def test_grid_table_bolds_the_run_the_selection_rule_picks(tmp_path):
    sub = tmp_path / "grid" / "excluded"
    sub.mkdir(parents=True)
    users = 200
    for name, ndcg, cpu, first in (
        ("ce_lr0.001_p0.5_d64_h1_len50_all", 0.101, 900.0, 0),
        ("ce_lr0.003_p0.5_d64_h1_len50_all", 0.100, 300.0, 1),
    ):
        values = np.zeros(users)
        values[first : first + 101] = 0.2  # the two runs differ on two users, one each way
        (sub / name).mkdir()
        np.savez(sub / name / "per_user_validation_excluded.npz", **{"ndcg@10": values, "hit@10": values > 0})
        row = {
            "name": name,
            "stage": 1,
            "metrics": {"validation": {"recall@10": 0.2, "ndcg@10": ndcg}},
            "per_user_files": {"validation": str(sub / name / "per_user_validation_excluded.npz")},
            "cost": {"cpu_s": cpu, "best_epoch": 10, "epochs": 30},
            "run_wall_s": cpu,
        }
        with open(sub / f"{name}.json", "w") as f:
            json.dump(row, f)
    text = make_tables.main(["--grid", str(tmp_path / "grid")])
    # The better run's edge is not significant, so the cheaper run is the selected one.
    assert "| 1 | **ce_lr0.003_p0.5_d64_h1_len50_all** | 0.2000 | 0.1000 | 10 / 30 | 5.0 | 5.0 |" in text
    assert "2 runs, 0.33 CPU-hours" in text and "(25 declared runs of the current stage missing)" in text


def test_validation_table_compares_each_row_with_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    hits = {"text": (rng.random(500) < 0.3).astype(float), "collab": np.zeros(500)}
    hits["collab"][:50] = 1.0  # far fewer hits than the reference
    for name, recall, step in (("text", 0.12, 1980), ("collab", 0.10, 2200)):
        row = write_row(str(tmp_path), name, 0, hits[name])
        npz = row["per_user_files"].pop("test")
        row.update(
            name=name,
            per_user_files={"validation": npz},
            chosen_on_validation={"step": step, "recall@10": recall, "ndcg@10": recall / 2},
            cpu_s_total=1200.0,
        )
        with open(tmp_path / f"{name}_0.json", "w") as f:
            json.dump(row, f)
    text = make_tables.main(["--validation", str(tmp_path / "*.json"), "--reference", "text"])
    assert "| collab | toy | 0 | 2200 | 0.1000 | 0.0500 | -16.7% | 10.0 | 20.0 |" in text
    assert "| text | toy | 0 | 1980 | 0.1200 | 0.0600 | +0.0% |" in text
    assert "collab vs text | Recall@10" in text and "**text wins**" in text
    with pytest.raises(ValueError, match="--reference 'mpnet'"):
        make_tables.main(["--validation", str(tmp_path / "*.json"), "--reference", "mpnet"])
