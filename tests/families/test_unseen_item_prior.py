"""The unseen-item prior as the parallel-digit family applies it: evaluation adds
`unseen_item_bonus.bonus` to exactly the items with no training interaction, and export writes the
bonus into the bundle's manifest for `genrec recommend`."""

import gin
import numpy as np

import genrec.families  # noqa: F401  (registers the families)
from genrec.datasets import cold_start, synthetic
from genrec.runtime import families


def test_evaluation_and_export_carry_the_configured_bonus_on_untrained_items_only():
    dataset = synthetic.generate(num_items=120, seed=3)
    family = families.get("parallel_ids")
    assert family.ranking_options(dataset) == {"item_bonus": None}  # no prior unless configured
    assert family.serving_settings() == {"unseen_item_bonus": 0.0}
    gin.bind_parameter("unseen_item_bonus.bonus", 2.5)
    bonus = family.ranking_options(dataset)["item_bonus"]
    trained = np.zeros(dataset.num_items, bool)
    trained[cold_start.training_items(dataset)] = True
    assert 0 < (~trained).sum() < dataset.num_items  # the synthetic split leaves some items untrained
    np.testing.assert_array_equal(bonus, np.where(trained, 0.0, 2.5).astype(np.float32))
    assert family.serving_settings() == {"unseen_item_bonus": 2.5}


def test_the_runs_file_binds_the_bonus_chosen_on_validation():
    import os

    import genrec
    from genrec.evaluate import exact

    gin.parse_config_file(os.path.join(genrec.RESOURCE_ROOT, "configs", "runs", "unseen_item_prior.gin"))
    assert exact.unseen_item_bonus() == 5.0
