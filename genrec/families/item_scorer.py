"""The shared half of families whose model scores every catalogue item from a history of items.

Such a model needs a `scorer(model, identifiers)`: a full_ranking Scorer that maps left-padded
histories [B, T] (item i is token i + 1, 0 pads) to scores [B, N]. Given it, evaluation ranks every
item exactly for every user (genrec/evaluate/full_ranking.py, beside most-popular), the bundle holds
parameters and identifiers only, and serving is `ExactRecommender`. A subclass supplies the config,
the model, its training plan and the scorer.
"""

from __future__ import annotations

import abc

import jax

from genrec.evaluate import scoring
from genrec.export import recommender as recommender_lib
from genrec.runtime import families
from genrec.runtime.meta import CheckpointMeta
from genrec.semantic_ids.artifact import Identifiers


class ItemScorerFamily(families.ModelFamily):
    """A family ranked exactly over the catalogue from the items of a history."""

    eval_batch_size: int = 512  # users per scoring call

    @abc.abstractmethod
    def scorer(self, model, identifiers: Identifiers):
        """The full_ranking Scorer of `model` over the catalogue `identifiers` name, or a ranker
        (`rank(tokens, excluded, targets, k)`, full_ranking.rank) that sweeps the catalogue itself;
        made under the evaluation mesh (jax.set_mesh)."""

    @abc.abstractmethod
    def history_length(self, model) -> int:
        """How many of a history's newest items the model reads."""

    def ranking_name(self, meta: CheckpointMeta) -> str:
        """The name of the model's row in results.json."""
        return meta.task or meta.model

    def ranking_options(self, dataset) -> dict:
        """Extra keyword arguments of `scorer` for evaluating on `dataset` (none by default)."""
        return {}

    def serving_settings(self) -> dict:
        """Manifest entries the bundle's recommender reads (none by default)."""
        return {}

    def evaluate(self, model, meta: CheckpointMeta, inputs: families.EvalInputs) -> dict:
        with jax.set_mesh(inputs.mesh):
            options = self.ranking_options(inputs.dataset)
            scorer = self.scorer(model, Identifiers.load(meta.identifiers_dir), **options)
        return scoring.rank_all_items(
            scorer,
            self.history_length(model),
            meta,
            inputs,
            name=self.ranking_name(meta),
            batch_size=self.eval_batch_size,
        )

    def export(self, model, meta: CheckpointMeta, *, dataset, out_dir: str, options: dict) -> str:
        from genrec.export import run as export_run  # seqio-backed: see genrec/families/__init__.py

        return export_run.write_scorer_bundle(
            model, meta, dataset=dataset, out_dir=out_dir, serving=self.serving_settings()
        )

    def recommender(self, bundle, model, **options):
        options.pop("beam_size", None)  # exact: no beam
        return recommender_lib.ExactRecommender(
            self.scorer(model, bundle.identifiers),
            max_len=self.history_length(model),
            source_ids=bundle.source_ids,
            titles=bundle.titles,
            **options,
        )
