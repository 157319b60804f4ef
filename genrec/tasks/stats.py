"""Examples per task family and split, counted from the histories alone (no text, no tokenizer).

Importing this module adds the counts to `--run_mode=stats` (genrec.datasets.run stats providers).
The counts equal the number of examples the registered tasks yield (tests check both ways).
"""

from __future__ import annotations

from genrec.datasets import run as datasets_run
from genrec.datasets.records import SPLITS, RecDataset
from genrec.tasks.examples import FAMILIES, ExampleConfig, available_fields, unavailable_reason
from genrec.tasks.templates import all_families


def _samples_per_user(family: str, split: str, length: int, reviews, config: ExampleConfig) -> int:
    if family in ("explanation", "review"):
        window = reviews if split == "train" else reviews[-1:]
        return sum(1 for r in window if r.strip())
    if split != "train":
        return 1
    if family == "sequential":
        return max(length - 1, 0)
    if family == "direct":
        return min(config.direct_samples_per_user, length)
    return length  # rating: every training interaction


def family_example_counts(
    dataset: RecDataset, config: ExampleConfig = ExampleConfig(), heldout: bool = False
) -> dict[str, dict[str, int]]:
    """{family: {split: examples}} for every family the dataset supports (evaluation splits count one
    example per sample and seen template; heldout=True counts the `..._heldout` tasks instead)."""
    have = available_fields(dataset)
    out = {}
    for family in FAMILIES:
        if unavailable_reason(family, dataset):
            continue
        eval_templates = 1 if heldout else len(all_families()[family].usable(have).seen)
        counts = {}
        for split in SPLITS:
            if heldout and split == "train":
                continue
            total = 0
            for hist in dataset.split(split):
                total += _samples_per_user(family, split, len(hist), hist.reviews or (), config)
            counts[split] = total * (1 if split == "train" else eval_templates)
        out[family] = counts
    return out


def format_family_counts(counts: dict[str, dict[str, int]], name: str = "") -> str:
    lines = [f"{name} examples per task family:" if name else "examples per task family:"]
    for family, by_split in counts.items():
        lines.append(f"  {family:<12} " + " ".join(f"{s}={n:,}" for s, n in by_split.items()))
    return "\n".join(lines)


def _register_with_stats_run_mode() -> None:
    """`--run_mode=stats` prints and saves these counts (under 'examples_per_task_family')."""
    datasets_run.register_stats_provider("examples_per_task_family", family_example_counts)


_register_with_stats_run_mode()
