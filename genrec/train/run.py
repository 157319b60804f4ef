"""`--run_mode=train`: dataset → identifiers → vocabulary + seqio tasks → sharded training.

  python -m genrec.main --run_mode=train --workdir=/tmp/run \
      --gin_file=configs/models/tiny.gin --gin_file=configs/tasks/sequential.gin \
      --gin_file=configs/partitioning/dp.gin --gin_file=configs/runs/train.gin \
      --gin.load_dataset.name="'synthetic'" --gin.LoopConfig.num_steps=300

Knobs: `train.*` (model family, packing, validation), `LoopConfig.*` (steps, batch, microbatches,
z-loss, seed, logging/checkpoint cadence, max_wall_s: stop with a checkpoint after that many seconds;
a rerun resumes),
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

from genrec import datasets
from genrec.runtime import families, partitioning
from genrec.semantic_ids.artifact import Identifiers
from genrec.train import optimizers, trainer

SEMANTIC_IDS_DIR = "semantic_ids"
ATOMIC_IDS_DIR = "atomic_ids"


def identifiers_for(workdir: str, dataset) -> tuple[Any, str]:
    """(Identifiers, the folder they are saved in): <workdir>/semantic_ids if built, else atomic."""
    built = os.path.join(workdir, SEMANTIC_IDS_DIR)
    if os.path.isdir(built):
        ids = Identifiers.load(built)
        if ids.num_items != dataset.num_items:
            raise ValueError(
                f"{built}: identifiers for {ids.num_items} items, dataset "
                f"{dataset.name!r} has {dataset.num_items}; rebuild with --run_mode=build_ids"
            )
        return ids, built
    scheme = configured_scheme()
    if scheme not in (None, "atomic_scheme"):
        raise FileNotFoundError(
            f"{built} does not exist, but the config names build_ids.scheme = "
            f"@{scheme}: run --run_mode=build_ids with the same gin files and "
            "workdir first (training would otherwise use atomic identifiers)"
        )
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
def train(
    ctx,
    *,
    model: str = "encoder_decoder",
    pack: bool = True,
    validate: bool = True,
    loop: Optional[trainer.LoopConfig] = None,
) -> dict:
    """The train run mode; returns the summary also written to <workdir>/train_summary.json.

    model: the registered model family (genrec/runtime/families.py): 'encoder_decoder' (T5 on the
    configured seqio mixture, `ModelConfig`), 'parallel_ids' (one position per item, every digit of
    the next item predicted at once, `ParallelIdConfig`, ranked exactly), or one a user registered.
    validate: score every checkpoint on the validation split where the family has a validation
    scorer (the time-to-quality curve in train_summary.json).
    loop: steps, batch, seeds, logging and checkpoint cadence (default: gin's `LoopConfig.*`)."""
    family = families.get(model)
    dataset = datasets.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    loop = loop or trainer.LoopConfig()
    _, summary = train_family(family, ctx.workdir, dataset, loop, pack=pack, validate=validate)
    return summary


def train_family(
    family: families.ModelFamily,
    workdir: str,
    dataset,
    loop: trainer.LoopConfig,
    *,
    pack: bool = True,
    mesh: Optional[jax.sharding.Mesh] = None,
    model_config=None,
    validate: bool = False,
):
    """Trains `family`'s model on an in-memory RecDataset (the run mode's core; tests call it directly):
    identifiers from the workdir, the family's plan (config, batches, loss, validation, FLOPs), the one
    train loop; optimizer settings from gin (`make_optimizer.*`). Returns (state, summary)."""
    identifiers, identifiers_dir = identifiers_for(workdir, dataset)
    mesh = mesh or partitioning.make_mesh()
    plan = family.training_plan(
        families.TrainingInputs(
            workdir=workdir,
            dataset=dataset,
            identifiers=identifiers,
            identifiers_dir=identifiers_dir,
            loop=loop,
            mesh=mesh,
            pack=pack,
            validate=validate,
            model_config=model_config,
        )
    )
    return train_plan(plan, workdir, loop, mesh, tx=optimizers.make_optimizer(loop.num_steps))


def train_plan(plan: families.TrainingPlan, workdir: str, loop: trainer.LoopConfig, mesh, *, tx):
    """A family's training plan run by `trainer.train_loop` (also the snapshot trainer's core)."""
    return trainer.train_loop(
        factory=plan.factory,
        tx=tx,
        batch_source=plan.batch_source,
        mesh=mesh,
        workdir=workdir,
        config=loop,
        meta=plan.meta,
        flops_per_step=plan.flops_per_step,
        loss_fn=plan.loss_fn,
        validate=plan.validate,
        constants=plan.constants,
    )
