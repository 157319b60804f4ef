"""Fixtures for the task tests: a small synthetic dataset, 2-level identifiers and their vocabulary."""

import numpy as np
import pytest

from genrec.semantic_ids.artifact import Identifiers


def two_level_identifiers(num_items: int, first: int = 8) -> Identifiers:
    """Item i → (i % first, i // first): unique, every code in range."""
    codes = np.stack([np.arange(num_items) % first, np.arange(num_items) // first], 1).astype(np.int32)
    return Identifiers("test", codes, (first, -(-num_items // first)))


@pytest.fixture(scope="session")
def tiny_rec():
    from genrec.datasets import synthetic

    return synthetic.generate(num_items=200, num_users=60, seed=3, name="synthetic-tiny")


@pytest.fixture(scope="session")
def tiny_ids(tiny_rec):
    return two_level_identifiers(tiny_rec.num_items)


@pytest.fixture(scope="session")
def small_ids(synthetic_small):
    return two_level_identifiers(synthetic_small.num_items)


@pytest.fixture(scope="session")
def tiny_vocab(tiny_rec, tiny_ids, tmp_path_factory):
    from genrec.tasks import vocabulary

    return vocabulary.build_vocabulary(
        tiny_rec, tiny_ids, str(tmp_path_factory.mktemp("vocab")), text_vocab_size=400
    )


# only these: other suites' tasks stay registered
TEST_DATASETS = ("synthetic-tiny", "hand", "bare", "tiger-small")


@pytest.fixture
def clean_registry():
    from genrec import tasks

    def clear():
        for name in TEST_DATASETS:
            tasks.clear(name)

    clear()
    yield
    clear()
