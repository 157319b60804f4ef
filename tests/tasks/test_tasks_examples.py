"""Samples: no leakage between splits, candidate lists, prefixes, explanation extraction."""

import collections

import numpy as np
import pytest

from genrec.tasks import examples
from genrec.tasks.examples import FAMILIES, ExampleConfig

CONFIG = ExampleConfig(num_candidates=20, max_history=5)


def _by_user(family, rec, ids, split, config=CONFIG):
    out = collections.defaultdict(list)
    for s in examples.samples(family, rec, ids, split, config):
        out[s.user_index].append(s)
    return out


def test_fixture_has_users_with_and_without_repeat_items(tiny_rec):
    repeats = [len(set(u.items.tolist())) < len(u) for u in tiny_rec.users]
    assert any(repeats) and not all(repeats)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_targets_are_training_interactions_and_never_eval_targets(family, tiny_rec, tiny_ids):
    train = _by_user(family, tiny_rec, tiny_ids, "train")
    evals = {s: _by_user(family, tiny_rec, tiny_ids, s) for s in ("validation", "test")}
    assert train and all(evals.values())
    for u, full in enumerate(tiny_rec.users):
        targets = collections.Counter(s.target_item for s in train.get(u, []))
        # every training target is an interaction of the training part (counted with multiplicity)
        assert not targets - collections.Counter(full.items[:-2].tolist()), (family, u)
        for split, hidden in (("validation", 2), ("test", 1)):
            for s in evals[split].get(u, []):
                assert s.target_item == full.items[-hidden]
                assert s.history_items.tolist() == full.items[:-hidden].tolist()
                if len(set(full.items.tolist())) == len(full):  # no repeat purchases: no overlap at all
                    assert s.target_item not in targets, (family, split, u)


def test_direct_candidates_exclude_every_item_of_the_user(tiny_rec, tiny_ids):
    for split in ("train", "validation", "test"):
        for u, samples in _by_user("direct", tiny_rec, tiny_ids, split).items():
            owned = set(tiny_rec.users[u].items.tolist())
            for s in samples:
                cands = list(s.candidates)
                assert len(cands) == len(set(cands)) == CONFIG.num_candidates
                assert cands.count(s.target_item) == 1
                assert not (set(cands) - {s.target_item}) & owned
                if s.fields["candidate_answer"] == "no":
                    assert tiny_ids.item_for_codes(_codes(s.fields["candidate"])) not in owned


def _codes(text):
    return [int(t.split("_")[1]) for t in text.strip("<>").split("><")]


def test_direct_negatives_are_deterministic_per_user(tiny_rec, tiny_ids):
    first = [s.candidates.tolist() for s in examples.samples("direct", tiny_rec, tiny_ids, "test", CONFIG)]
    again = [s.candidates.tolist() for s in examples.samples("direct", tiny_rec, tiny_ids, "test", CONFIG)]
    other_seed = [
        s.candidates.tolist()
        for s in examples.samples(
            "direct", tiny_rec, tiny_ids, "test", ExampleConfig(num_candidates=20, seed=1)
        )
    ]
    assert first == again and first != other_seed


def test_sequential_uses_every_training_prefix_and_never_shows_its_target(tiny_rec, tiny_ids):
    train = _by_user("sequential", tiny_rec, tiny_ids, "train")
    for u, full in enumerate(tiny_rec.users):
        part = full.items[:-2].tolist()
        got = [(s.history_items.tolist(), s.target_item) for s in train.get(u, [])]
        assert got == [(part[:t], part[t]) for t in range(1, len(part))]
        for s in train.get(u, []):
            shown = s.history_items[-CONFIG.max_history :]
            assert s.fields["history"] == "".join(tiny_ids.text(i) for i in shown)
            if s.target_item not in s.history_items:
                assert s.fields["target"] not in s.fields["history"]


def test_sample_negatives_dense_and_sparse_paths():
    rng = np.random.default_rng(0)
    exclude = np.array([0, 1, 2, 5])
    dense = examples.sample_negatives(rng, 10, exclude, 5)  # 5 of the 6 allowed: explicit complement
    sparse = examples.sample_negatives(rng, 1000, exclude, 5)
    for got, n in ((dense, 10), (sparse, 1000)):
        assert len(set(got.tolist())) == 5 and not set(got.tolist()) & set(exclude.tolist())
        assert got.max() < n
    assert len(examples.sample_negatives(rng, 6, exclude, 5)) == 2  # only two items left


def test_explanation_sentence_and_feature_hand_example():
    review = "Bought it last week. The lather of this shampoo is wonderful and rich! I use it daily."
    sentence, feature = examples.explanation_and_feature(review, max_words=32)
    assert sentence == "The lather of this shampoo is wonderful and rich!"
    assert feature == "wonderful"
    short, _ = examples.explanation_and_feature(review, max_words=3)
    assert short == "The lather of"


def test_families_without_their_fields_say_why(tiny_rec, tiny_ids):
    from genrec.datasets.records import RecDataset, UserHistory

    bare = RecDataset(
        "no-text",
        tiny_rec.items,
        tuple(UserHistory(u.user_id, u.items, u.timestamps) for u in tiny_rec.users),
    )
    for family, word in (("rating", "rating"), ("explanation", "review"), ("review", "review")):
        reason = examples.unavailable_reason(family, bare)
        assert reason and word in reason and "no-text" in reason
        with pytest.raises(ValueError, match=word):
            next(examples.samples(family, bare, tiny_ids, "train"))
    assert examples.unavailable_reason("sequential", bare) is None
    assert examples.unavailable_reason("direct", bare) is None
