"""Prompt templates, one module per task family; each family has training templates and one held-out.

A template is a pair of `str.format` strings over a sample's text fields (see genrec/tasks/examples.py
for the fields each family fills). `answer` says what the target is, so the evaluator knows how to
score it: 'rating' (a number), 'item' (an identifier), 'text', 'yes_no' or 'like_dislike'.
`needs` lists optional dataset fields the template reads ('title', 'rating', 'summary'); a dataset
without them simply does not use the template.
"""

from __future__ import annotations

import dataclasses
import string

ANSWER_KINDS = ("rating", "item", "text", "yes_no", "like_dislike")


def _field_names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclasses.dataclass(frozen=True)
class Template:
    id: str
    inputs: str
    targets: str
    answer: str
    needs: tuple[str, ...] = ()

    def __post_init__(self):
        if self.answer not in ANSWER_KINDS:
            raise ValueError(f"template {self.id}: answer {self.answer!r} not in {ANSWER_KINDS}")

    @property
    def fields(self) -> set[str]:
        """The sample fields this template formats."""
        return self.input_fields | _field_names(self.targets)

    @property
    def input_fields(self) -> set[str]:
        """The sample fields the prompt (inputs) shows."""
        return _field_names(self.inputs)

    def render(self, fields: dict[str, str]) -> tuple[str, str]:
        return self.inputs.format(**fields), self.targets.format(**fields)


@dataclasses.dataclass(frozen=True)
class FamilyTemplates:
    """`train` are sampled for training, `seen` (ids from `train`) make the evaluation tasks and
    `heldout` is never trained on (the zero-shot task `..._heldout`). `target_only` names sample
    fields derived from the target (e.g. a word of the explanation) that no template's inputs may
    read, so no prompt, seen or held-out, hints at its answer."""

    train: tuple[Template, ...]
    seen: tuple[str, ...]
    heldout: Template
    target_only: tuple[str, ...] = ()

    def __post_init__(self):
        ids = [t.id for t in self.train] + [self.heldout.id]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate template ids in {ids}")
        for t in self.train + (self.heldout,):
            leaked = sorted(set(self.target_only) & t.input_fields)
            if leaked:
                raise ValueError(f"template {t.id}: inputs read target-only field(s) {leaked}")
        unknown = set(self.seen) - set(ids[:-1])
        if unknown:
            raise ValueError(f"seen templates {sorted(unknown)} are not training templates")

    def usable(self, available: set[str]) -> "FamilyTemplates":
        """Only the templates whose optional fields the dataset has."""
        keep = lambda t: set(t.needs) <= available  # noqa: E731
        return FamilyTemplates(
            train=tuple(t for t in self.train if keep(t)),
            seen=tuple(i for i in self.seen if any(t.id == i and keep(t) for t in self.train)),
            heldout=self.heldout,
            target_only=self.target_only,
        )

    def by_id(self, template_id: str) -> Template:
        for t in self.train + (self.heldout,):
            if t.id == template_id:
                return t
        raise KeyError(template_id)


def all_families() -> dict[str, FamilyTemplates]:
    from genrec.tasks.templates import direct, explanation, rating, review, sequential

    return {
        "rating": rating.TEMPLATES,
        "sequential": sequential.TEMPLATES,
        "explanation": explanation.TEMPLATES,
        "review": review.TEMPLATES,
        "direct": direct.TEMPLATES,
    }
