"""`--run_mode=eval`: evaluate a checkpoint (own process, any mesh) → <workdir>/eval/results.{json,md}.

  python -m genrec.main --run_mode=eval --workdir=/tmp/run --checkpoint_dir=/tmp/run/checkpoints \
      --gin_file=configs/runs/eval.gin --gin.evaluate.max_eval_examples=200

The checkpoint's meta names everything else: vocabulary, identifiers, dataset, mixture, lengths.
The mesh comes from `make_mesh` bindings (configs/partitioning/*.gin), not from the training run.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import gin

from genrec.evaluate import beyond_accuracy, evaluator, protocol, results, scoring
from genrec.tasks import pipeline  # noqa: F401  (registers prepare_tasks.* / task_feature_lengths.*)

EvalConfig = gin.external_configurable(evaluator.EvalConfig, module="genrec.evaluate")


def eval_task_names(registered: Sequence[str], mixture: Optional[str]) -> list[str]:
    """The tasks of the trained mixture plus their held-out-template twins (all tasks if unknown)."""
    import seqio

    tasks = [t for t in registered if t in seqio.TaskRegistry.names()]
    if mixture and mixture in seqio.MixtureRegistry.names():
        trained = {t.name for t in seqio.get_mixture_or_task(mixture).tasks}
        tasks = [t for t in tasks if t.removesuffix("_heldout") in trained]
    return tasks


def task_examples(task_name: str, split: str, feature_lengths: dict, limit: Optional[int]) -> list[dict]:
    """The first `limit` examples (all when None) of a task split, in order, as numpy dicts."""
    import seqio

    ds = seqio.get_mixture_or_task(task_name).get_dataset(
        sequence_length=feature_lengths, split=split, shuffle=False, num_epochs=1)
    if limit is not None:
        ds = ds.take(limit)
    return list(ds.as_numpy_iterator())


@gin.configurable(module="genrec.evaluate")
def evaluate(ctx, *, split: str = "test", tasks: Optional[Sequence[str]] = None,
             max_eval_examples: Optional[int] = None, config: Optional[evaluator.EvalConfig] = None,
             step: Optional[int] = None) -> dict:
    """Evaluates the newest (or `step`) checkpoint on every task of its mixture; prints the table.

    tasks: task names to evaluate (default: the trained mixture's tasks + held-out twins).
    max_eval_examples: cap per task for quick runs (default: all users).
    """
    from genrec import datasets
    from genrec.runtime import checkpoints, partitioning

    checkpoint_dir = ctx.checkpoint_dir or os.path.join(ctx.workdir, "checkpoints")
    _, meta = checkpoints.read_meta(checkpoint_dir, step)
    dataset = datasets.load(meta["dataset"], data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    out = evaluate_checkpoint(checkpoint_dir, dataset=dataset, mesh=partitioning.make_mesh(),
                              out_dir=os.path.join(ctx.workdir, "eval"), split=split, tasks=tasks,
                              max_eval_examples=max_eval_examples, config=config or EvalConfig(), step=step)
    print(results.markdown(out))
    return out


def evaluate_checkpoint(checkpoint_dir: str, *, dataset, mesh, out_dir: str, split: str = "test",
                        tasks: Optional[Sequence[str]] = None, max_eval_examples: Optional[int] = None,
                        config: evaluator.EvalConfig = evaluator.EvalConfig(),
                        step: Optional[int] = None) -> dict:
    """The gin-free core of `evaluate`: restore onto `mesh`, score every task, write results."""
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks.vocabulary import item_token_ids
    from genrec.runtime import checkpoints

    model, meta = checkpoints.load_for_inference(checkpoint_dir, mesh, step=step)
    identifiers = Identifiers.load(meta["identifiers_dir"])
    if meta.get("model") == "parallel_ids":
        return rank_exactly(model, meta, identifiers, dataset=dataset, checkpoint_dir=checkpoint_dir,
                            mesh=mesh, out_dir=out_dir, split=split, exclude_history=config.drop_history)
    # The tasks exactly as training built them (candidates, history length, seed: vocab/tasks.json).
    vocabulary, registered = pipeline.register_as_trained(meta["vocabulary"], dataset, identifiers, meta["dataset"])
    names = list(tasks) if tasks else eval_task_names(registered, meta.get("mixture"))
    return scoring.score_tasks(
        model, meta, checkpoint_dir=checkpoint_dir, names=names,
        examples_of=lambda name: task_examples(name, split, meta["task_feature_lengths"], max_eval_examples),
        item_tokens=item_token_ids(vocabulary, identifiers), popularity=beyond_accuracy.train_popularity(dataset),
        vocabulary=vocabulary, identifier_scheme=identifiers.scheme, mesh=mesh, out_dir=out_dir, split=split,
        max_eval_examples=max_eval_examples, config=config)


def rank_exactly(model, meta: dict, identifiers, *, dataset, checkpoint_dir: str, mesh, out_dir: str,
                 split: str, exclude_history: bool) -> dict:
    """Models whose item score is a sum over digits: every user of `split`, every item scored
    (genrec/evaluate/exact.py), results written like the beam-search evaluator's."""
    import time

    import jax

    from genrec.evaluate import exact
    from genrec.tasks.item_sequences import task_name

    from genrec.evaluate import full_ranking, popularity

    start = time.time()
    with jax.set_mesh(mesh):
        metrics = exact.evaluate(model, identifiers.codes, dataset, split, exclude_history=exclude_history,
                                 beyond=True)
    seconds = time.time() - start
    users = len(dataset.split(split))
    # The floor on the same users, ranked the same way: the training split's most popular items.
    floor = full_ranking.evaluate(popularity.popularity_scorer(popularity.item_counts(dataset)), dataset,
                                  split, max_len=model.config.max_len, exclude_history=exclude_history)
    run = {"dataset": meta["dataset"], "model": "parallel_ids", "identifier_scheme": identifiers.scheme,
           "model_size": scoring.model_size_name(meta["model_config"]), "checkpoint_step": meta["step"],
           "split": split, "users": users, "ranking": f"exact: all {dataset.num_items} items scored",
           "drop_history": exclude_history, **protocol.describe(exclude_history), "mesh": dict(mesh.shape)}
    cost = scoring.cost(checkpoint_dir, mesh, users / seconds)
    table = {task_name(meta["dataset"]): dict(metrics, examples=users),
             "most_popular (same users)": dict(floor, examples=users)}
    return results.write_results(out_dir, run, table, cost)
