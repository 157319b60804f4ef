"""`--run_mode=train`: dataset → identifiers → vocabulary + seqio tasks → sharded training.

  python -m genrec.main --run_mode=train --workdir=/tmp/run \
      --gin_file=configs/models/tiny.gin --gin_file=configs/tasks/sequential.gin \
      --gin_file=configs/partitioning/dp.gin --gin_file=configs/runs/train.gin \
      --gin.load_dataset.name="'synthetic'" --gin.train.num_steps=300

Knobs: `train.*` (steps, batch, microbatches, z-loss, seed, logging/checkpoint cadence, packing,
max_wall_s: stop with a checkpoint after that many seconds; a rerun resumes),
`make_optimizer.*`, `make_mesh.*` (configs/partitioning), `ModelConfig.*` (configs/models),
`prepare_tasks.*` / `task_feature_lengths.*` (configs/tasks), `load_dataset.*`.
Identifiers come from <workdir>/semantic_ids/ (run_mode=build_ids) when present, else one atomic
token per item (saved to <workdir>/atomic_ids/ so the evaluator can read them back); a config that
names another scheme (`build_ids.scheme`) but has none built is an error, not a silent fallback.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

import gin
import jax

from genrec.runtime import partitioning
from genrec.train import data, optimizers, trainer

SEMANTIC_IDS_DIR = "semantic_ids"
ATOMIC_IDS_DIR = "atomic_ids"


def identifiers_for(workdir: str, dataset) -> tuple[Any, str]:
    """(Identifiers, the folder they are saved in): <workdir>/semantic_ids if built, else atomic."""
    from genrec.semantic_ids.artifact import Identifiers

    built = os.path.join(workdir, SEMANTIC_IDS_DIR)
    if os.path.isdir(built):
        ids = Identifiers.load(built)
        if ids.num_items != dataset.num_items:
            raise ValueError(f"{built}: identifiers for {ids.num_items} items, dataset "
                             f"{dataset.name!r} has {dataset.num_items}; rebuild with --run_mode=build_ids")
        return ids, built
    scheme = configured_scheme()
    if scheme not in (None, "atomic_scheme"):
        raise FileNotFoundError(f"{built} does not exist, but the config names build_ids.scheme = "
                                f"@{scheme}: run --run_mode=build_ids with the same gin files and "
                                "workdir first (training would otherwise use atomic identifiers)")
    logging.info("no %s: using atomic identifiers (one token per item)", built)
    ids = Identifiers.atomic(dataset.num_items, source_ids=dataset.items.source_ids, dataset=dataset.name)
    path = os.path.join(workdir, ATOMIC_IDS_DIR)
    if jax.process_index() == 0:
        ids.save(path)
    return ids, path


def configured_scheme() -> Optional[str]:
    """The configurable name bound to build_ids.scheme (e.g. 'rqvae_scheme'), None if unbound."""
    try:
        return gin.query_parameter("build_ids.scheme").selector.split(".")[-1]
    except ValueError:
        return None


@gin.configurable
def train(ctx, *, num_steps: int = 1000, batch_size: int = 64, num_microbatches: int = 1,
          z_loss: float = 1e-4, seed: int = 0, log_every: int = 50, checkpoint_every: int = 500,
          keep_checkpoints: int = 3, async_checkpoints: bool = True, pack: bool = True,
          max_wall_s: Optional[float] = None, model: str = "encoder_decoder",
          validate: bool = True) -> dict:
    """The train run mode; returns the summary also written to <workdir>/train_summary.json.

    model: 'encoder_decoder' (T5 on the configured seqio mixture, `ModelConfig`) or 'parallel_ids'
    (one position per item, every digit of the next item predicted at once, `ParallelIdConfig`;
    trained on the item-sequence task, ranked exactly; with `validate`, every checkpoint is also
    scored on the validation split, the time-to-quality curve in train_summary.json)."""
    from genrec import datasets

    if model not in MODELS:
        raise ValueError(f"train.model={model!r}; expected one of {MODELS}")
    dataset = datasets.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    loop = trainer.LoopConfig(num_steps=num_steps, batch_size=batch_size, num_microbatches=num_microbatches,
                              z_loss=z_loss, seed=seed, log_every=log_every, checkpoint_every=checkpoint_every,
                              keep_checkpoints=keep_checkpoints, async_checkpoints=async_checkpoints,
                              max_wall_s=max_wall_s)
    if model == "encoder_decoder":
        _, summary = train_dataset(ctx.workdir, dataset, loop, pack=pack)
    else:
        _, summary = train_parallel_ids(ctx.workdir, dataset, loop, pack=pack, validate=validate)
    return summary


MODELS = ("encoder_decoder", "parallel_ids")


def train_parallel_ids(workdir: str, dataset, loop: trainer.LoopConfig, *, pack: bool = True,
                       mesh: Optional[jax.sharding.Mesh] = None, model_config=None, validate: bool = False):
    """Trains the parallel-digit model (genrec/model/parallel_ids.py) on the dataset's item-sequence
    Task; settings from gin (`ParallelIdConfig.*`, `make_optimizer.*`); returns (state, summary)."""
    from genrec.model import losses, parallel_ids
    from genrec.tasks import item_sequences

    identifiers, identifiers_dir = identifiers_for(workdir, dataset)
    config = model_config or parallel_ids.ParallelIdConfig(level_sizes=identifiers.level_sizes,
                                                           num_items=dataset.num_items)
    if tuple(config.level_sizes) != tuple(identifiers.level_sizes):
        raise ValueError(f"ParallelIdConfig.level_sizes {config.level_sizes} != the identifiers' "
                         f"{identifiers.level_sizes} ({identifiers_dir})")
    task = item_sequences.register(dataset, config.max_len + 1)
    lengths = {"targets": config.max_len + 1}
    mesh = mesh or partitioning.make_mesh()
    local_batch = partitioning.batch_size_per_process(loop.batch_size, mesh)
    converter = item_sequences.ItemSequenceConverter(identifiers.codes, pack=pack)
    meta = {"model": "parallel_ids", "identifiers_dir": os.path.abspath(identifiers_dir),
            "identifier_scheme": identifiers.scheme, "dataset": dataset.name, "task": task, "pack": pack,
            "model_config": config.to_dict(), "task_feature_lengths": lengths, "batch_size": loop.batch_size}
    logging.info("training the parallel-digit model on %s (%d items, %s identifiers, %d digits), mesh %s",
                 dataset.name, dataset.num_items, identifiers.scheme, config.num_digits, dict(mesh.shape))
    catalogue = identifiers.codes if config.catalogue_loss_weight > 0 else None
    factory = lambda rngs: parallel_ids.ParallelIdDecoder(config, rngs=rngs, item_codes=catalogue)  # noqa: E731
    loss_fn = losses.digit_and_catalogue_loss(config.catalogue_loss_weight) if catalogue is not None else None

    def validation(params):
        from genrec.evaluate import exact
        from genrec.runtime.state import FunctionalModel

        model = FunctionalModel.from_factory(factory).module(params, jax.random.key(0))
        with jax.set_mesh(mesh):
            return exact.evaluate(model, identifiers.codes, dataset, "validation",
                                  exclude_history=config.catalogue_exclude_history)

    return trainer.train_loop(
        factory=factory, validate=validation if validate else None, loss_fn=loss_fn,
        tx=optimizers.make_optimizer(loop.num_steps), mesh=mesh, workdir=workdir, config=loop, meta=meta,
        batch_source=lambda start: data.batches(task, lengths, local_batch, start_step=start, seed=loop.seed,
                                                converter=converter),
        flops_per_step=loop.batch_size * parallel_ids.train_flops_per_row(config, lengths["targets"]))


def train_dataset(workdir: str, dataset, loop: trainer.LoopConfig, *, pack: bool = True,
                  mesh: Optional[jax.sharding.Mesh] = None, model_config=None):
    """Trains on an in-memory RecDataset (the run mode's core; tests call it directly). Task, model,
    optimizer and mesh settings come from gin (or the defaults); returns (state, summary)."""
    from genrec.model.config import ModelConfig
    from genrec.tasks.pipeline import prepare_tasks, task_feature_lengths

    identifiers, identifiers_dir = identifiers_for(workdir, dataset)
    vocabulary, mixture = prepare_tasks(workdir, dataset, identifiers)
    lengths = task_feature_lengths()
    config = model_config or ModelConfig(vocab_size=vocabulary.vocab_size)
    if config.vocab_size < vocabulary.vocab_size:
        raise ValueError(f"ModelConfig.vocab_size {config.vocab_size} < vocabulary size {vocabulary.vocab_size}")
    mesh = mesh or partitioning.make_mesh()
    local_batch = partitioning.batch_size_per_process(loop.batch_size, mesh)
    meta = {"vocabulary": os.path.abspath(vocabulary.sentencepiece_model_file),
            "identifiers_dir": os.path.abspath(identifiers_dir), "identifier_scheme": identifiers.scheme,
            "dataset": dataset.name, "mixture": mixture, "pack": pack}
    logging.info("training %s on %s (%d items, %s identifiers), mesh %s", mixture, dataset.name,
                 dataset.num_items, identifiers.scheme, dict(mesh.shape))
    return train_model(workdir, config=config, lengths=lengths, loop=loop,
                       tx=optimizers.make_optimizer(loop.num_steps), mesh=mesh, meta=meta,
                       batch_source=lambda start: data.batches(mixture, lengths, local_batch, start_step=start,
                                                               seed=loop.seed, pack=pack))


def train_model(workdir: str, *, config, lengths: dict[str, int], loop: trainer.LoopConfig, tx,
                mesh: jax.sharding.Mesh, meta: dict[str, Any], batch_source: trainer.BatchSource):
    """The data-source-agnostic core (seqio tasks above, array snapshots in genrec.snapshot):
    the encoder-decoder of `config` trained by `trainer.train_loop`; returns (state, summary)."""
    from genrec.model import flops
    from genrec.model.network import EncoderDecoder

    meta = dict(meta, model_config=config.to_dict(), task_feature_lengths=dict(lengths),
                batch_size=loop.batch_size)
    flops_per_step = loop.batch_size * flops.train_flops_per_example(config, lengths["inputs"], lengths["targets"])
    return trainer.train_loop(factory=lambda rngs: EncoderDecoder(config, rngs=rngs), tx=tx,
                              batch_source=batch_source, mesh=mesh, workdir=workdir, config=loop, meta=meta,
                              flops_per_step=flops_per_step)
