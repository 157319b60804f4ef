"""How well a (packed) batch uses its rows, and which feature length stops packing from fitting more.

Packing puts examples into a row until either the inputs or the targets are full. When one feature
is nearly full and the other mostly padding, every extra example is refused for the full one's
length alone: TIGER's sequential task with `targets = 8` fits one 5-token identifier per row while
the 160 input positions hold 2-4 histories (benchmarks/train/RESULTS.md, "packing").
"""

from __future__ import annotations

from typing import Optional

import numpy as np

FEATURES = {"inputs": "encoder_input_tokens", "targets": "decoder_target_tokens"}


def examples_per_row(batch: dict[str, np.ndarray]) -> np.ndarray:
    """Real examples in each row of a host batch: segments of packed rows, 0 or 1 unpacked (1
    for batches without decoder targets, e.g. the encoder-decoder's RL prompts)."""
    if "decoder_segment_ids" in batch:
        return np.asarray(batch["decoder_segment_ids"]).max(axis=1)
    if "decoder_target_tokens" not in batch:
        return np.ones(len(batch["encoder_input_tokens"]), np.int64)
    return (np.asarray(batch["decoder_target_tokens"]) > 0).any(axis=1).astype(np.int64)


def fill(batch: dict[str, np.ndarray]) -> dict[str, float]:
    """Examples per row; per feature, the non-padding share of its positions (`<f>_fill`) and how
    many more average examples the padding of a row would hold (`<f>_room`)."""
    examples = examples_per_row(batch)
    report = {"examples_per_row": float(examples.mean())}
    for name, key in FEATURES.items():
        if key not in batch:  # decoder-only batches have no inputs
            continue
        tokens = np.asarray(batch[key]) > 0
        per_example = tokens.sum() / max(1, examples.sum())
        report[f"{name}_fill"] = float(tokens.mean())
        report[f"{name}_room"] = float((~tokens).sum(axis=1).mean() / max(per_example, 1e-9))
    return report


def bound_hint(report: dict[str, float]) -> Optional[str]:
    """A sentence naming the feature length that limits packing (its padding cannot hold another
    average example while the other's can), or None when neither alone does."""
    for full, other in (("targets", "inputs"), ("inputs", "targets")):
        if f"{other}_room" not in report or f"{full}_room" not in report:
            return None
        if report[f"{full}_room"] < 1.0 <= report[f"{other}_room"]:
            return (
                f"packing is bound by the {full} length: {report['examples_per_row']:.2f} examples "
                f"per row, {full} {report[f'{full}_fill']:.0%} full, {other} "
                f"{report[f'{other}_fill']:.0%} full (room for {report[f'{other}_room']:.1f} more "
                f"examples); a longer task_feature_lengths.{full} fits more examples per row"
            )
    return None
