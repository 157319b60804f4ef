"""The encoder-decoder family: T5.1.1 (genrec/model/network.py) on seqio text-to-text mixtures.

Training reads the configured mixture of P5 prompts or TIGER's identifiers-only task through seqio's
EncDecFeatureConverter (packed rows); the loss is token cross-entropy with z-loss. Evaluation decodes
every task of the trained mixture (trie-constrained beam search for item identifiers, so only
catalogue items come out); the bundle carries the vocabulary, the sequential prompt and the trie.
"""

from __future__ import annotations

import logging
import os

import jax

from genrec.evaluate import beyond_accuracy, evaluator
from genrec.export import recommender as recommender_lib
from genrec.model import flops
from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder
from genrec.model.trie import build_trie
from genrec.runtime import families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.runtime.state import FunctionalModel
from genrec.train import data, rl, rl_data, rl_policies


class EncoderDecoderFamily(families.ModelFamily):
    name = "encoder_decoder"
    text_to_text = True

    def config_from_dict(self, d):
        return ModelConfig.from_dict(d)

    def size_name(self, model_config) -> str:
        c = model_config
        return f"d{c['d_model']}-enc{c['num_encoder_layers']}-dec{c['num_decoder_layers']}"

    def build(self, config, *, rngs, catalogue=None):
        del catalogue  # identifiers are tokens of the vocabulary; the loss never scores the catalogue
        return EncoderDecoder(config, rngs=rngs)

    def training_plan(self, inputs: families.TrainingInputs) -> families.TrainingPlan:
        from genrec.tasks import pipeline  # seqio-backed: see genrec/families/__init__.py

        dataset, identifiers, loop = inputs.dataset, inputs.identifiers, inputs.loop
        vocabulary, mixture = pipeline.prepare_tasks(inputs.workdir, dataset, identifiers)
        lengths = pipeline.task_feature_lengths()
        config = inputs.model_config or ModelConfig(vocab_size=vocabulary.vocab_size)
        if config.vocab_size < vocabulary.vocab_size:
            raise ValueError(
                f"ModelConfig.vocab_size {config.vocab_size} < vocabulary size {vocabulary.vocab_size}"
            )
        local_batch = partitioning.batch_size_per_process(loop.batch_size, inputs.mesh)
        meta = CheckpointMeta(
            model=self.name,
            model_config={},
            vocabulary=os.path.abspath(vocabulary.sentencepiece_model_file),
            identifiers_dir=os.path.abspath(inputs.identifiers_dir),
            identifier_scheme=identifiers.scheme,
            dataset=dataset.name,
            mixture=mixture,
            pack=inputs.pack,
        )
        logging.info(
            "training %s on %s (%d items, %s identifiers), mesh %s",
            mixture,
            dataset.name,
            dataset.num_items,
            identifiers.scheme,
            dict(inputs.mesh.shape),
        )
        return self.plan_for_batches(
            config,
            lengths,
            loop,
            meta,
            lambda start: data.batches(
                mixture, lengths, local_batch, start_step=start, seed=loop.seed, pack=inputs.pack
            ),
        )

    def plan_for_batches(
        self, config: ModelConfig, lengths: dict, loop, meta: CheckpointMeta, batch_source
    ) -> families.TrainingPlan:
        """The plan over already-featurized text-to-text batches (seqio's, or an array snapshot's)."""
        meta = meta.replace(
            model=self.name,
            model_config=config.to_dict(),
            task_feature_lengths=dict(lengths),
            batch_size=loop.batch_size,
        )
        per_example = flops.train_flops_per_example(config, lengths["inputs"], lengths["targets"])
        return families.TrainingPlan(
            config=config,
            factory=self.factory(config),
            batch_source=batch_source,
            meta=meta,
            flops_per_step=loop.batch_size * per_example,
        )

    def evaluate(self, model, meta: CheckpointMeta, inputs: families.EvalInputs) -> dict:
        from genrec.evaluate import run as evaluate_run  # seqio-backed: see genrec/families/__init__.py

        return evaluate_run.score_trained_tasks(model, meta, inputs)

    def export(self, model, meta: CheckpointMeta, *, dataset, out_dir: str, options: dict) -> str:
        from genrec.export import run as export_run  # seqio-backed: see genrec/families/__init__.py

        if options.get("mips_index"):
            raise ValueError(
                "export.mips_index: the encoder-decoder decodes identifiers by beam search; "
                "a MIPS index serves families ranked by item vectors (parallel_ids)"
            )
        return export_run.write_prompted_bundle(
            model,
            meta,
            dataset=dataset,
            out_dir=out_dir,
            template_id=options["template_id"],
            anonymous_user=options["anonymous_user"],
        )

    def recommender(self, bundle, model, **options):
        import seqio

        return recommender_lib.Recommender(
            model,
            vocabulary=seqio.SentencePieceVocabulary(bundle.vocabulary_path),
            identifiers=bundle.identifiers,
            item_tokens=bundle.item_tokens,
            trie=bundle.trie,
            source_ids=bundle.source_ids,
            titles=bundle.titles,
            prompt=bundle.prompt,
            **options,
        )

    def rl_parts(
        self,
        meta: CheckpointMeta,
        *,
        dataset,
        identifiers,
        factory,
        mesh,
        config,
        validation_users=None,
        template_id: str = "sequential-1",
        **options,
    ):
        # seqio-backed: see genrec/families/__init__.py
        from genrec.evaluate import run as evaluate_run
        from genrec.tasks import pipeline, prompts, registry
        from genrec.tasks.vocabulary import item_token_ids

        vocabulary, _ = pipeline.register_as_trained(meta.vocabulary, dataset, identifiers, meta.dataset)
        item_tokens = item_token_ids(vocabulary, identifiers)
        trie = build_trie(item_tokens)
        rollout_prompts = prompts.trained_prompts(meta, dataset, identifiers, template_id)
        tiger = rollout_prompts.template.id == "tiger"
        task = registry.task_name(meta.dataset, "sequential", variant=registry.TIGER if tiger else "")
        examples = evaluate_run.task_examples(task, "validation", meta.task_feature_lengths, validation_users)
        popularity = beyond_accuracy.train_popularity(dataset)

        def validation(params):
            model = FunctionalModel.from_factory(factory).module(params, jax.random.key(0))
            scorer = evaluator.Evaluator(
                model,
                trie=trie,
                item_tokens=item_tokens,
                vocabulary=vocabulary,
                popularity=popularity,
                eos_id=vocabulary.eos_id,
            )
            with jax.set_mesh(mesh):
                raw, top, scores = scorer.recommend(examples)
            return scorer.sequential_metrics(raw, top, scores, examples)

        # one forward pass over a user: its prompt encoded once, then K identifiers of L tokens decoded
        model_config = self.config_from_dict(meta.model_config)
        encoder_len, length = rollout_prompts.length, item_tokens.shape[1]
        encoder = flops.train_flops_per_example(model_config, encoder_len, 0)
        per_sample = flops.train_flops_per_example(model_config, encoder_len, length) - encoder
        return rl.RlParts(
            rl_policies.EncoderDecoderPolicy(item_tokens, trie),
            rl_data.prompt_features(rollout_prompts),
            (encoder + config.group_size * per_sample) // 3,
            validation,
        )


families.register(EncoderDecoderFamily())
