"""Baselines by name; each runs inside its own gin scope, so one file configures them all.

`sasrec_ce/TrainConfig.loss = 'ce'` binds only the SASRec-CE row; unscoped bindings (a budget's
`TrainConfig.max_epochs`) bind every row.
"""

from __future__ import annotations

import gin

from genrec.baselines import mf, trainer
from genrec.datasets.records import RecDataset
from genrec.evaluate import popularity

RANKING = {
    "most_popular": popularity.run_most_popular,
    "sasrec_bce": trainer.run_sasrec,
    "sasrec_ce": trainer.run_sasrec,
}
RATING = {
    "global_mean": mf.run_global_mean,
    "biased_mf": mf.run_biased_mf,
}
BASELINES = {**RANKING, **RATING}


def run_baseline(name: str, dataset: RecDataset) -> dict:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
    if name in RATING and not dataset.has_ratings:
        raise ValueError(f"baseline {name!r} needs ratings, which {dataset.name!r} does not have")
    with gin.config_scope(name):
        result = BASELINES[name](dataset)
    return {**result, "baseline": name}
