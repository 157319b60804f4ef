"""Per-family samples from a RecDataset: the text fields templates format, plus the metadata the
evaluator reads (user_index, target_item, history_items, candidates, target_rating).

Splits follow RecDataset.split: training samples come from the training part of each history (every
interaction, or every prefix for sequential); validation and test samples are leave-one-out, one per
user (its last item is the target). Randomness (negatives, yes/no coin flips) is drawn from
generators seeded by (seed, family, split, user), so samples are reproducible and do not depend on
which other users or families are built; TIGER's user tokens hash the user's source id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Iterator, Optional, Sequence

import numpy as np

from genrec.datasets.records import SPLITS, RecDataset, UserHistory
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks.templates import all_families

FAMILIES = ("rating", "sequential", "explanation", "review", "direct")
# Dataset fields a family cannot do without.
_FAMILY_NEEDS = {"rating": ("rating",), "explanation": ("review",), "review": ("review",)}
_STOPWORDS = frozenset(
    "a an the and or but if so of to in on at by for with from this that these those it its is are was "
    "were be been am i me my we our you your he she they them their his her not no very too also just "
    "really than then there here have has had do does did will would can could should as all any some "
    "one much more most get got".split()
)
USER_TOKEN = "<u_{}>"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]+")


@dataclasses.dataclass(frozen=True)
class ExampleConfig:
    max_history: int = 20  # most recent items shown in an input
    recent_titles: int = 3  # titles shown by title templates
    max_title_words: int = 12
    num_candidates: int = 100  # direct family: the target + (num_candidates - 1) negatives
    direct_samples_per_user: int = 1  # direct training samples per user (random training items)
    max_review_words: int = 96
    max_explanation_words: int = 32
    user_tokens: int = 0  # users hashed into this many tokens `<u_K>` (TIGER's task; 0: none)
    seed: int = 0  # samples' randomness and the training template draws (source.choose_template)


@dataclasses.dataclass
class Sample:
    user_index: int
    fields: dict[str, str]
    target_item: int = -1
    history_items: Sequence[int] = ()
    candidates: Sequence[int] = ()
    target_rating: float = 0.0


def available_fields(dataset: RecDataset) -> set[str]:
    """Optional fields this dataset has: 'title', 'rating', 'review', 'summary'."""
    out = set()
    if any(dataset.items.field("title")):
        out.add("title")
    if dataset.has_ratings:
        out.add("rating")
    if dataset.has_reviews:
        out.add("review")
    if dataset.users and dataset.users[0].summaries is not None:
        out.add("summary")
    return out


def unavailable_reason(family: str, dataset: RecDataset) -> Optional[str]:
    """Why `family` cannot be built from `dataset`, or None where it can."""
    if family not in FAMILIES:
        return f"unknown task family {family!r}; expected one of {FAMILIES}"
    have = available_fields(dataset)
    missing = [f for f in _FAMILY_NEEDS.get(family, ()) if f not in have]
    if missing:
        return f"dataset {dataset.name!r} has no {' or '.join(missing)} data, which the {family} family needs"
    if not all_families()[family].usable(have).seen:
        return f"dataset {dataset.name!r} lacks the fields every {family} evaluation template needs"
    return None


def user_tokens(buckets: int) -> list[str]:
    """The hashed user tokens `<u_0>` .. `<u_{buckets-1}>` (one vocabulary piece each)."""
    return [USER_TOKEN.format(k) for k in range(buckets)]


def user_token(user_id: str, buckets: int) -> str:
    """The user's token: its source id hashed into `buckets` (the same in every run and process)."""
    return USER_TOKEN.format(int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big") % buckets)


def rating_text(rating: float) -> str:
    return f"{float(rating):g}"


def sample_negatives(rng: np.random.Generator, num_items: int, exclude: np.ndarray, k: int) -> np.ndarray:
    """k distinct items outside `exclude` (fewer only where the catalogue has fewer)."""
    excluded = set(np.asarray(exclude).tolist())
    available = num_items - len(excluded)
    k = min(k, available)
    if k <= 0:
        return np.zeros(0, np.int64)
    if 2 * k > available:  # dense: sample from the explicit complement
        return rng.choice(np.setdiff1d(np.arange(num_items), sorted(excluded)), k, replace=False)
    chosen: list[int] = []
    while len(chosen) < k:
        for item in rng.integers(0, num_items, 2 * (k - len(chosen)) + 4).tolist():
            if item not in excluded:
                excluded.add(item)
                chosen.append(item)
                if len(chosen) == k:
                    break
    return np.array(chosen, np.int64)


def explanation_and_feature(review: str, max_words: int) -> tuple[str, str]:
    """The review sentence with the most content words (first on ties), truncated to `max_words`, and
    its feature word: the sentence's longest content word (first on ties)."""
    sentences = [s for s in _SENTENCE_END.split(review.strip()) if s]
    content = lambda s: [w for w in _WORD.findall(s) if w.lower() not in _STOPWORDS]  # noqa: E731
    best = max(sentences, key=lambda s: len(content(s)))  # max keeps the first of equals
    words = content(best) or _WORD.findall(best) or ["it"]
    feature = max(words, key=len).lower()
    return " ".join(best.split()[:max_words]), feature


def _truncate(text: str, max_words: int) -> str:
    return " ".join(text.split()[:max_words])


class Builder:
    """Turns users' interactions into samples for one family and split."""

    def __init__(self, dataset: RecDataset, identifiers: Identifiers, config: ExampleConfig):
        if identifiers.num_items != dataset.num_items:
            raise ValueError(
                f"identifiers cover {identifiers.num_items} items but dataset "
                f"{dataset.name!r} has {dataset.num_items}"
            )
        self.dataset, self.config = dataset, config
        self.item_text = [identifiers.text(i) for i in range(dataset.num_items)]
        self.titles = [
            _truncate(t, config.max_title_words) or "an untitled item" for t in dataset.items.field("title")
        ]

    def items(self, ids: Sequence[int]) -> str:
        return "".join(self.item_text[i] for i in ids) or "nothing yet"

    def recent_titles(self, ids: Sequence[int]) -> str:
        shown = list(ids)[-self.config.recent_titles :]
        return "; ".join(self.titles[i] for i in shown) or "nothing yet"

    def common(self, u: int, hist: UserHistory, pos: int) -> dict[str, str]:
        item = int(hist.items[pos])
        prefix = hist.items[:pos][-self.config.max_history :]
        return {
            "user": f"user_{u}",
            "item": self.item_text[item],
            "target": self.item_text[item],
            "title": self.titles[item],
            "history": self.items(prefix),
            "recent_titles": self.recent_titles(prefix),
        }

    def yes_no(self, rng, full: UserHistory, item: int) -> dict[str, str]:
        """A candidate that is `item` or (half the time) an item the user never had."""
        if rng.random() < 0.5:
            return {"candidate": self.item_text[item], "candidate_answer": "yes"}
        neg = sample_negatives(rng, self.dataset.num_items, full.items, 1)
        if not len(neg):
            return {"candidate": self.item_text[item], "candidate_answer": "yes"}
        return {"candidate": self.item_text[int(neg[0])], "candidate_answer": "no"}

    def sample(self, u: int, hist: UserHistory, pos: int, fields: dict[str, str], **meta) -> Sample:
        return Sample(
            user_index=u,
            fields=fields,
            target_item=int(hist.items[pos]),
            history_items=hist.items[:pos].astype(np.int64),
            **meta,
        )

    # --- one generator per family: (user index, split view, full history, positions, rng) → samples

    def rating(self, u, hist, full, positions, rng):
        for pos in positions:
            r = float(hist.ratings[pos])
            guess = r if rng.random() < 0.5 else float(rng.choice([x for x in range(1, 6) if x != round(r)]))
            fields = self.common(u, hist, pos) | {
                "rating": rating_text(r),
                "guess": rating_text(guess),
                "guess_answer": "yes" if guess == r else "no",
                "like": "like" if r >= 4 else "dislike",
            }
            yield self.sample(u, hist, pos, fields, target_rating=r)

    def sequential(self, u, hist, full, positions, rng):
        buckets = self.config.user_tokens
        user = {"user_token": user_token(full.user_id, buckets) if buckets else ""}
        for pos in positions:
            fields = self.common(u, hist, pos) | self.yes_no(rng, full, int(hist.items[pos])) | user
            yield self.sample(u, hist, pos, fields)

    def explanation(self, u, hist, full, positions, rng):
        for pos in positions:
            sentence, feature = explanation_and_feature(hist.reviews[pos], self.config.max_explanation_words)
            fields = self.common(u, hist, pos) | {
                "explanation": sentence,
                "feature": feature,
                "rating": self._rating(hist, pos),
            }
            yield self.sample(u, hist, pos, fields, target_rating=float(self._rating_value(hist, pos)))

    def review(self, u, hist, full, positions, rng):
        for pos in positions:
            summary = hist.summaries[pos] if hist.summaries is not None else ""
            fields = {
                "user": f"user_{u}",
                "review": _truncate(hist.reviews[pos], self.config.max_review_words),
                "summary": summary.strip() or "no summary",
                "rating": self._rating(hist, pos),
            }
            yield self.sample(u, hist, pos, fields, target_rating=float(self._rating_value(hist, pos)))

    def direct(self, u, hist, full, positions, rng):
        for pos in positions:
            item = int(hist.items[pos])
            negatives = sample_negatives(
                rng, self.dataset.num_items, full.items, self.config.num_candidates - 1
            )
            candidates = np.insert(negatives, rng.integers(0, len(negatives) + 1), item)
            fields = (
                self.common(u, hist, pos)
                | self.yes_no(rng, full, item)
                | {"candidates": self.items(candidates)}
            )
            yield self.sample(u, hist, pos, fields, candidates=candidates.astype(np.int64))

    @staticmethod
    def _rating_value(hist: UserHistory, pos: int) -> float:
        return float(hist.ratings[pos]) if hist.ratings is not None else 0.0

    def _rating(self, hist: UserHistory, pos: int) -> str:
        return rating_text(self._rating_value(hist, pos))


def positions(
    family: str,
    hist: UserHistory,
    split: str,
    config: ExampleConfig,
    rng: Optional[np.random.Generator] = None,
) -> list[int]:
    """Which interactions of a split view become samples (validation/test: the last one only)."""
    candidates = range(len(hist)) if split == "train" else [len(hist) - 1]
    if family in ("explanation", "review"):
        candidates = [p for p in candidates if hist.reviews[p].strip()]
    elif family == "sequential" and split == "train":
        candidates = candidates[1:]  # a prefix needs at least one item
    elif family == "direct" and split == "train":
        k = min(config.direct_samples_per_user, len(hist))
        chosen = rng.choice(len(hist), k, replace=False) if rng is not None else np.arange(k)
        candidates = sorted(chosen.tolist())
    return list(candidates)


def samples(
    family: str,
    dataset: RecDataset,
    identifiers: Identifiers,
    split: str,
    config: ExampleConfig = ExampleConfig(),
) -> Iterator[Sample]:
    """Every sample of `family` in `split`, user by user."""
    reason = unavailable_reason(family, dataset)
    if reason:
        raise ValueError(reason)
    builder = Builder(dataset, identifiers, config)
    generate = getattr(builder, family)
    for u, (hist, full) in enumerate(zip(dataset.split(split), dataset.users)):
        rng = np.random.default_rng((config.seed, FAMILIES.index(family), SPLITS.index(split), u))
        yield from generate(u, hist, full, positions(family, hist, split, config, rng), rng)
