"""seqio Tasks (one per dataset and family, plus a held-out-template task) and Mixtures.

Names: `genrec_<dataset>_<family>` (train/validation/test), `genrec_<dataset>_<family>_heldout`
(validation/test with the held-out template), `genrec_<dataset>_tiger_sequential` (TIGER's task: the
sequential family's samples as identifier tokens only, one template), mixtures `genrec_<dataset>_p5_all`
(every family the dataset supports), `genrec_<dataset>_sequential_mix` (the sequential prompts only)
and `genrec_<dataset>_tiger` (TIGER's task only). A task's family is the last part of its name, as
genrec/evaluate reads it. Training examples draw their template afresh every epoch
(source.choose_template); evaluation examples come once per evaluation template. The
dataset part is the dataset name with every character seqio does not allow in names replaced by '_'
(`amazon-2014-beauty` → `amazon_2014_beauty`). seqio's registries are global: registering again
replaces this dataset's tasks, and `clear()` removes them (tests).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Mapping, Optional, Sequence

import seqio

from genrec.datasets.records import RecDataset
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import examples, metrics, source, stats
from genrec.tasks.templates import all_families, sequential

PREFIX = "genrec_"
TIGER = "tiger"  # the variant of the sequential family that TIGER trains on
MIXTURES = ("p5_all", "sequential_mix", TIGER)
_UNAVAILABLE: dict[str, dict[str, str]] = {}  # dataset slug → {family: why it is not registered}


def slug(dataset_name: str) -> str:
    return re.sub(r"[^\w.:]", "_", dataset_name.lower())


def task_name(dataset_name: str, family: str, heldout: bool = False, variant: str = "") -> str:
    return (
        f"{PREFIX}{slug(dataset_name)}_"
        + (f"{variant}_" if variant else "")
        + family
        + ("_heldout" if heldout else "")
    )


def mixture_name(dataset_name: str, mixture: str = "p5_all") -> str:
    if mixture not in MIXTURES:
        raise ValueError(f"unknown mixture {mixture!r}; expected one of {MIXTURES}")
    return f"{PREFIX}{slug(dataset_name)}_{mixture}"


def output_features(vocabulary: seqio.Vocabulary) -> dict[str, seqio.Feature]:
    return {
        "inputs": seqio.Feature(vocabulary, add_eos=True),
        "targets": seqio.Feature(vocabulary, add_eos=True),
    }


def get(name: str):
    """The Task or Mixture `name`; for a family the dataset lacks, an error that says why."""
    for dataset, reasons in _UNAVAILABLE.items():
        for family, reason in reasons.items():
            if name in (task_name(dataset, family), task_name(dataset, family, heldout=True)):
                raise ValueError(f"{name} is not registered: {reason}")
    return seqio.get_mixture_or_task(name)


def clear(dataset_name: Optional[str] = None) -> None:
    """Removes genrec tasks and mixtures (of one dataset, or all)."""
    prefix = PREFIX + (slug(dataset_name) + "_" if dataset_name else "")
    for registry in (seqio.MixtureRegistry, seqio.TaskRegistry):
        for name in [n for n in registry.names() if n.startswith(prefix)]:
            registry.remove(name)
    if dataset_name:
        _UNAVAILABLE.pop(slug(dataset_name), None)
    else:
        _UNAVAILABLE.clear()


def _logged(name: str, build):
    """`build(split)`, logging how many examples it made and how long it took (large datasets)."""

    def fn(split):
        start = time.time()
        columns = build(split)
        logging.info(
            "%s/%s: built %d examples in %.1fs",
            name,
            split,
            source.num_examples(columns),
            time.time() - start,
        )
        return columns

    return fn


def _add_task(
    name: str,
    build,
    splits: Sequence[str],
    counts: Mapping[str, int],
    vocabulary: seqio.Vocabulary,
    train_templates: Sequence = (),
    seed: Sequence[int] = (),
) -> None:
    seqio.TaskRegistry.remove(name)
    choose = [source.choose_template(train_templates, seed)] if train_templates else []
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            source.dataset_fn(_logged(name, build)), splits=splits, num_input_examples=dict(counts)
        ),
        output_features=output_features(vocabulary),
        preprocessors=[*choose, seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        postprocess_fn=metrics.postprocess,
        metric_fns=[metrics.by_answer_kind],
    )


def register_tasks(
    dataset_name: str,
    dataset: RecDataset,
    identifiers: Identifiers,
    vocabulary: seqio.Vocabulary,
    families: Optional[Sequence[str]] = None,
    *,
    config: examples.ExampleConfig = examples.ExampleConfig(),
    mixture_rates: Optional[Mapping[str, float]] = None,
) -> list[str]:
    """Registers this dataset's tasks and mixtures; returns their names (tasks first).

    families: None registers every family the dataset supports (the others are logged and `get`
      explains why they are missing); naming a family the dataset lacks raises with the reason.
    mixture_rates: {family: rate} for p5_all; default: proportional to training examples.
    """
    requested = families is not None
    families = list(examples.FAMILIES if families is None else families)
    reasons = {f: r for f in families if (r := examples.unavailable_reason(f, dataset))}
    if requested and reasons:
        raise ValueError("; ".join(reasons.values()))
    for family, reason in reasons.items():
        logging.info("not registering %s: %s", task_name(dataset_name, family), reason)
    clear(dataset_name)
    _UNAVAILABLE[slug(dataset_name)] = reasons

    have = examples.available_fields(dataset)
    counts = stats.family_example_counts(dataset, config)
    heldout_counts = stats.family_example_counts(dataset, config, heldout=True)
    names = []

    def add(name, family, train, evaluate, counts, splits=("train", "validation", "test")):
        """Task `name`: training examples take one of `train` per epoch, evaluation ones every `evaluate`."""

        def build(split):
            samples = examples.samples(family, dataset, identifiers, split, config)
            return source.fields(samples, train) if split == "train" else source.render(samples, evaluate)

        seed = (config.seed, examples.FAMILIES.index(family))
        _add_task(name, build, splits, counts, vocabulary, train, seed)
        names.append(name)

    for family in (f for f in examples.FAMILIES if f in families and f not in reasons):
        templates = all_families()[family].usable(have)
        add(
            task_name(dataset_name, family),
            family,
            templates.train,
            [templates.by_id(i) for i in templates.seen],
            counts[family],
        )
        if set(templates.heldout.needs) <= have:
            add(
                task_name(dataset_name, family, heldout=True),
                family,
                (),
                [templates.heldout],
                heldout_counts[family],
                splits=("validation", "test"),
            )
        if family == "sequential":  # one template, so the held-out counts (one per sample) are its own
            add(
                task_name(dataset_name, family, variant=TIGER),
                family,
                [sequential.TIGER],
                [sequential.TIGER],
                {"train": counts[family]["train"], **heldout_counts[family]},
            )

    train_tasks = {f: task_name(dataset_name, f) for f in families if f not in reasons}
    rates = {f: float((mixture_rates or {}).get(f, counts[f]["train"])) for f in train_tasks}
    sequential_only = {"sequential": train_tasks.get("sequential")}
    tiger = {
        "sequential": "sequential" in train_tasks and task_name(dataset_name, "sequential", variant=TIGER)
    }
    for mixture, members in (("p5_all", train_tasks), ("sequential_mix", sequential_only), (TIGER, tiger)):
        members = {f: t for f, t in members.items() if t and rates[f] > 0}
        if members:
            name = mixture_name(dataset_name, mixture)
            seqio.MixtureRegistry.add(name, [(t, rates[f]) for f, t in members.items()])
            names.append(name)
    return names
