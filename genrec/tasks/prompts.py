"""The sequential task's encoder input for one (user, history), built as training built it: the
sample fields of `examples.py`, the template the checkpoint's mixture trained on, the SentencePiece
vocabulary, EOS, and the task's input length. RL rollouts of the encoder-decoder read these.

  prompts = trained_prompts(meta, dataset, identifiers)     # meta: a checkpoint's
  tokens = prompts.tokens(user, view, position)             # view.items[:position] → view.items[position]
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from genrec.datasets.records import RecDataset, UserHistory
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import examples, pipeline, registry, vocabulary
from genrec.tasks.templates import Template, all_families
from genrec.tasks.templates import sequential as sequential_templates


def sequential_template(
    mixture: str | None, dataset_name: str, template_id: str = "sequential-1"
) -> Template:
    """TIGER's template for a model trained on TIGER's mixture (it never saw prose), else the
    sequential family's `template_id`."""
    if mixture == registry.mixture_name(dataset_name, registry.TIGER):
        return sequential_templates.TIGER
    return all_families()["sequential"].by_id(template_id)


@dataclasses.dataclass
class SequentialPrompts:
    dataset: RecDataset
    identifiers: Identifiers
    vocabulary: object  # seqio.Vocabulary
    template: Template
    config: examples.ExampleConfig
    length: int  # the task's input length: longer inputs are trimmed, EOS kept (as seqio trims)

    def __post_init__(self):
        self._builder = examples.Builder(self.dataset, self.identifiers, self.config)

    def text(self, user: int, view: UserHistory, position: int) -> str:
        """The input text for user `user` (index into dataset.users) predicting view.items[position]."""
        rng = np.random.default_rng(0)  # only yes/no fields draw, and no item template shows them
        sample = next(self._builder.sequential(user, view, self.dataset.users[user], [position], rng))
        return self.template.inputs.format(**sample.fields)

    def tokens(self, user: int, view: UserHistory, position: int) -> np.ndarray:
        ids = list(self.vocabulary.encode(self.text(user, view, position)))[: self.length - 1]
        return np.asarray(ids + [self.vocabulary.eos_id], np.int32)


def trained_prompts(
    meta, dataset: RecDataset, identifiers: Identifiers, template_id: str = "sequential-1"
) -> SequentialPrompts:
    """The prompts of the encoder-decoder checkpoint whose meta is `meta`."""
    vocab_path = meta.vocabulary
    return SequentialPrompts(
        dataset,
        identifiers,
        vocabulary.load_vocabulary(os.path.dirname(vocab_path)),
        sequential_template(meta.mixture, meta.dataset, template_id),
        pipeline.trained_example_config(vocab_path),
        int(meta.task_feature_lengths["inputs"]),
    )
