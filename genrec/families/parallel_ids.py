"""The parallel-digit family: RPG's recipe (genrec/model/parallel_ids.py) behind the family interface.

Training reads the dataset's item-sequence Task (genrec/tasks/item_sequences.py: every position of a
user's sequence supervised in one pass, rows packed with several users). The loss and the model are
chosen together here: with `ParallelIdConfig.catalogue_loss_weight > 0` the model is built with the
catalogue and returns (digit logits, the next item's catalogue NLL), which
`losses.digit_and_catalogue_loss` combines; without it the model returns digit logits and the
trainer's token cross-entropy applies per digit. Every checkpoint is scored on validation by exact
ranking, with history excluded when the model trained for that protocol.
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np

from genrec.datasets import cold_start
from genrec.evaluate import exact, full_ranking, popularity
from genrec.export import bundle as bundle_lib
from genrec.export import mips_index
from genrec.export import recommender as recommender_lib
from genrec.families import item_scorer
from genrec.model import losses
from genrec.model import parallel_ids as model_lib
from genrec.runtime import families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.runtime.state import FunctionalModel
from genrec.train import data, rl, rl_data, rl_policies

INDEX_DIR = "index"  # <bundle>/index: the optional MIPS index over the item vectors


class ParallelIdFamily(item_scorer.ItemScorerFamily):
    name = "parallel_ids"
    eval_batch_size = exact.EVAL_BATCH

    def config_from_dict(self, d):
        return model_lib.ParallelIdConfig.from_dict(d)

    def build(self, config, *, rngs, catalogue=None):
        return model_lib.ParallelIdDecoder(config, rngs=rngs, item_codes=catalogue)

    def size_name(self, model_config) -> str:
        c = self.config_from_dict(model_config)
        return f"d{c.block.d_model}-layers{c.num_layers}-digits{c.num_digits}"

    def scorer(self, model, identifiers, item_bonus=None):
        """Exact ranking swept over the catalogue in chunks, split over the mesh's item axes
        (exact.Ranker: no [users, N] score matrix, so it scales to millions of items)."""
        return exact.Ranker(model, identifiers.codes, item_bonus=item_bonus)

    def ranking_options(self, dataset) -> dict:
        """The unseen-item prior (exact.unseen_item_bonus) on the items with no training interaction."""
        trained = np.zeros(dataset.num_items, bool)
        trained[cold_start.training_items(dataset)] = True
        return {"item_bonus": exact.item_bonus(trained, exact.unseen_item_bonus())}

    def serving_settings(self) -> dict:
        return {"unseen_item_bonus": exact.unseen_item_bonus()}

    def history_length(self, model) -> int:
        return model.config.max_len

    def export(self, model, meta: CheckpointMeta, *, dataset, out_dir: str, options: dict) -> str:
        """The scorer bundle; with `options['mips_index']` (a genrec/export/mips_index.py kind), also
        a MIPS index over the item vectors in <bundle>/index, its top-10 recall against exact ranking
        measured on validation histories and printed."""
        out = super().export(model, meta, dataset=dataset, out_dir=out_dir, options=options)
        if options.get("mips_index"):
            histories, _ = full_ranking.leave_one_out(dataset, "validation")
            bundle = bundle_lib.read_bundle(out)
            ranker = exact.Ranker(model, bundle.identifiers.codes, item_bonus=bundle.item_bonus)
            mips_index.build_index(ranker, histories, kind=options["mips_index"]).save(
                os.path.join(out, INDEX_DIR)
            )
        return out

    def recommender(self, bundle, model, **options):
        """Exact ranking by the item vectors (genrec/evaluate/exact.py:Ranker), through the bundle's
        MIPS index when it has one."""
        options.pop("beam_size", None)  # exact: no beam
        index_dir = os.path.join(bundle.directory, INDEX_DIR)
        index = mips_index.MipsIndex.load(index_dir) if os.path.isdir(index_dir) else None
        return recommender_lib.ExactRecommender(
            exact.Ranker(model, bundle.identifiers.codes, item_bonus=bundle.item_bonus),
            max_len=model.config.max_len,
            source_ids=bundle.source_ids,
            titles=bundle.titles,
            index=index,
            **options,
        )

    def ranking_name(self, meta: CheckpointMeta) -> str:
        from genrec.tasks import item_sequences  # seqio-backed: see genrec/families/__init__.py

        return item_sequences.task_name(meta.dataset)

    def training_plan(self, inputs: families.TrainingInputs) -> families.TrainingPlan:
        from genrec.tasks import item_sequences  # seqio-backed: see genrec/families/__init__.py

        dataset, identifiers, loop = inputs.dataset, inputs.identifiers, inputs.loop
        config = inputs.model_config or model_lib.ParallelIdConfig(
            level_sizes=identifiers.level_sizes, num_items=dataset.num_items
        )
        if tuple(config.level_sizes) != tuple(identifiers.level_sizes):
            raise ValueError(
                f"ParallelIdConfig.level_sizes {config.level_sizes} != the identifiers' "
                f"{identifiers.level_sizes} ({inputs.identifiers_dir})"
            )
        task = item_sequences.register(dataset, config.max_len + 1)
        lengths = {"targets": config.max_len + 1}
        local_batch = partitioning.batch_size_per_process(loop.batch_size, inputs.mesh)
        converter = item_sequences.ItemSequenceConverter(identifiers.codes, pack=inputs.pack)
        meta = CheckpointMeta(
            model=self.name,
            model_config=config.to_dict(),
            dataset=dataset.name,
            identifiers_dir=os.path.abspath(inputs.identifiers_dir),
            identifier_scheme=identifiers.scheme,
            task=task,
            pack=inputs.pack,
            task_feature_lengths=lengths,
            batch_size=loop.batch_size,
        )
        logging.info(
            "training the parallel-digit model on %s (%d items, %s identifiers, %d digits), mesh %s",
            dataset.name,
            dataset.num_items,
            identifiers.scheme,
            config.num_digits,
            dict(inputs.mesh.shape),
        )
        with_catalogue = config.catalogue_loss_weight > 0
        factory = self.factory(config)
        mesh = inputs.mesh
        # the catalogue is an input of the step, split over the mesh's 'items' axes (never a constant)
        constants = (
            {
                "catalogue": model_lib.training_catalogue(
                    identifiers.codes, config, mesh, item_popularity=popularity.item_counts(dataset)
                )
            }
            if with_catalogue
            else None
        )

        def validation(params):
            model = FunctionalModel.from_factory(factory).module(params, jax.random.key(0))
            with jax.set_mesh(mesh):
                return exact.evaluate(
                    model,
                    identifiers.codes,
                    dataset,
                    "validation",
                    exclude_history=config.catalogue_exclude_history,
                )

        return families.TrainingPlan(
            config=config,
            factory=factory,
            meta=meta,
            batch_source=lambda start: data.batches(
                task, lengths, local_batch, start_step=start, seed=loop.seed, converter=converter
            ),
            flops_per_step=loop.batch_size
            * model_lib.train_flops_per_row(config, lengths["targets"], loop.batch_size),
            loss_fn=losses.digit_and_catalogue_loss(config.catalogue_loss_weight) if with_catalogue else None,
            validate=validation if inputs.validate else None,
            constants=constants,
        )

    def rl_parts(self, meta: CheckpointMeta, *, dataset, identifiers, factory, mesh, config, **options):
        def validation(params):
            model = FunctionalModel.from_factory(factory).module(params, jax.random.key(0))
            with jax.set_mesh(mesh):
                return exact.evaluate(model, identifiers.codes, dataset, "validation")

        model_config = self.config_from_dict(meta.model_config)
        # a user's history row with the head at its last position (the K samples are scored by a gather)
        flops = model_lib.forward_flops(model_config, model_config.max_len + 1, head_positions=1)
        return rl.RlParts(
            rl_policies.ParallelIdPolicy(identifiers.codes),
            rl_data.item_sequence_features(model_config.max_len),
            flops,
            validation,
        )


families.register(ParallelIdFamily())
