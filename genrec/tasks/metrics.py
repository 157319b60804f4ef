"""seqio postprocessing and metric functions for the genrec tasks (simple, one prediction per example).

The targets' postprocessor keeps the example's metadata next to its text, so a metric sees what it
needs (the target rating, the answer kind). Each answer kind has its metric (see genrec/evaluate/);
the full ranking evaluation (beam search over the identifier trie) lives in genrec/evaluate, not here.
`METRICS` is the pluggable table: replace an entry to change what seqio reports for that kind.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from genrec.metrics import rating, text_metrics

Metric = Callable[[Sequence[str], Sequence[dict]], dict[str, float]]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def postprocess(output: Any, example: Optional[dict] = None, is_target: bool = False) -> Any:
    """Predictions stay text; targets become {'text', 'answer_kind', 'target_rating', ...}."""
    if not is_target:
        return _text(output).strip()
    target = {"text": _text(output).strip()}
    if example is not None:
        for key in ("answer_kind", "template_id"):
            target[key] = _text(example[key])
        for key in ("user_index", "target_item"):
            target[key] = int(example[key])
        target["target_rating"] = float(example["target_rating"])
    return target


def exact_match(predictions: Sequence[str], targets: Sequence[dict]) -> dict[str, float]:
    hits = [p == t["text"] for p, t in zip(predictions, targets)]
    return {"accuracy": float(np.mean(hits)) if hits else 0.0}


def _ratings(predictions: Sequence[str], targets: Sequence[dict]) -> dict[str, float]:
    return rating.rating_metrics(predictions, [t["target_rating"] for t in targets])


def _texts(predictions: Sequence[str], targets: Sequence[dict]) -> dict[str, float]:
    return text_metrics.text_metrics(predictions, [t["text"] for t in targets])


def _items(predictions: Sequence[str], targets: Sequence[dict]) -> dict[str, float]:
    return {"recall@1": exact_match(predictions, targets)["accuracy"]}


METRICS: dict[str, Metric] = {
    "rating": _ratings,
    "text": _texts,
    "item": _items,
    "yes_no": exact_match,
    "like_dislike": exact_match,
}


def by_answer_kind(targets: Sequence[dict], predictions: Sequence[str]) -> dict[str, float]:
    """The seqio metric_fn: scores each answer kind with its METRICS entry, names prefixed by kind
    where a task mixes kinds (e.g. review: 'rating/rmse', 'text/rougeL')."""
    groups: dict[str, tuple[list, list]] = {}
    for t, p in zip(targets, predictions):
        preds, targs = groups.setdefault(t["answer_kind"], ([], []))
        preds.append(p)
        targs.append(t)
    out = {}
    for kind, (preds, targs) in sorted(groups.items()):
        scores = METRICS[kind](preds, targs)
        out.update({(f"{kind}/{k}" if len(groups) > 1 else k): v for k, v in scores.items()})
    return out
