"""Registered seqio tasks and mixtures: a hand-worked example, every family, batches, errors, counts."""

import numpy as np
import pytest
import seqio
from seqio import test_utils

from genrec import tasks
from genrec.datasets import prepare
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import metrics, pipeline, stats, vocabulary
from genrec.tasks.examples import ExampleConfig

LENGTHS = {"inputs": 256, "targets": 32}
CONFIG = ExampleConfig(num_candidates=20)


@pytest.fixture(scope="module")
def hand_rec():
    """Two users: A buys x0 x1 x2 x3 (ids 0..3); B buys x4 x2 x0."""
    raw = prepare.RawInteractions(
        users=["A"] * 4 + ["B"] * 3,
        items=["x0", "x1", "x2", "x3", "x4", "x2", "x0"],
        timestamps=[1, 2, 3, 4, 1, 2, 3],
        ratings=[5, 4, 2, 5, 1, 3, 4],
        reviews=["Great gel. Smells nice."] * 7,
        summaries=["Nice"] * 7,
    )
    items = {f"x{i}": {"title": f"Item {i}"} for i in range(5)}
    return prepare.build_dataset("hand", raw, items)


# Validation of the hand dataset: user 0 (A) → target x2 (2 stars) after [x0, x1]; user 1 (B) → x2
# (3 stars) after [x4]. Each family's seen templates, rendered by hand.
HAND_VALIDATION = {
    "sequential": [
        (
            "sequential-1",
            "item",
            "Given the purchase history of user_{u}: {h}. What is the next item?",
            "<a_2>",
        )
    ],
    "rating": [("rating-1", "rating", "What star rating do you think user_{u} will give item <a_2>?", "{r}")],
    "explanation": [
        ("explanation-1", "text", "Generate an explanation for user_{u} about item <a_2>.", "Great gel.")
    ],
    "review": [
        (
            "review-1",
            "text",
            "Write a short summary of this review by user_{u}: Great gel. Smells nice.",
            "Nice",
        ),
        (
            "review-2",
            "rating",
            "Predict the star rating (1 to 5) of this review by user_{u}: Great gel. Smells nice.",
            "{r}",
        ),
    ],
}


@pytest.mark.parametrize("family", sorted(HAND_VALIDATION))
def test_hand_worked_validation_examples_with_seqio_test_utils(family, hand_rec, tmp_path, clean_registry):
    ids = Identifiers.atomic(5)
    vocab = vocabulary.build_vocabulary(hand_rec, ids, str(tmp_path), text_vocab_size=100)
    tasks.register_tasks("hand", hand_rec, ids, vocab, [family])
    ds = seqio.get_mixture_or_task(f"genrec_hand_{family}").get_dataset(
        LENGTHS, split="validation", shuffle=False
    )
    expected = []
    for user, history, rating in ((0, [0, 1], 2.0), (1, [4], 3.0)):
        for template_id, kind, inputs, target in HAND_VALIDATION[family]:
            inputs = inputs.format(u=user, h="".join(f"<a_{i}>" for i in history))
            target = target.format(r=f"{rating:g}")
            expected.append(
                {
                    "inputs_pretokenized": inputs,
                    "targets_pretokenized": target,
                    "inputs": vocab.encode(inputs) + [1],
                    "targets": vocab.encode(target) + [1],
                    "user_index": user,
                    "target_item": 2,
                    "history_items": history,
                    "candidates": [],
                    "target_rating": 0.0 if family == "sequential" else rating,
                    "template_id": template_id,
                    "answer_kind": kind,
                }
            )
    test_utils.assert_dataset(ds, expected)


@pytest.fixture
def registered(tiny_rec, tiny_ids, tiny_vocab, clean_registry):
    return tasks.register_tasks(tiny_rec.name, tiny_rec, tiny_ids, tiny_vocab, config=CONFIG)


def _template_ids(task, split):
    ds = tasks.get(task).get_dataset(LENGTHS, split=split, shuffle=False)
    return [t.decode() for t in ds.map(lambda ex: ex["template_id"]).as_numpy_iterator()]


def test_every_family_registered_with_counts_matching_stats(registered, tiny_rec):
    slug = "synthetic_tiny"
    expected_tasks = [f"genrec_{slug}_{f}{h}" for f in tasks.FAMILIES for h in ("", "_heldout")]
    expected_tasks.insert(
        expected_tasks.index(f"genrec_{slug}_sequential_heldout") + 1, f"genrec_{slug}_tiger_sequential"
    )
    assert registered == expected_tasks + [
        f"genrec_{slug}_{m}" for m in ("p5_all", "sequential_mix", "tiger")
    ]
    counts = stats.family_example_counts(tiny_rec, CONFIG)
    heldout = stats.family_example_counts(tiny_rec, CONFIG, heldout=True)
    for family in tasks.FAMILIES:
        for split in ("train", "validation", "test"):  # preprocessing drops nothing
            ids = _template_ids(f"genrec_{slug}_{family}", split)
            assert len(ids) == counts[family][split], (family, split)
            assert {i.rsplit("-", 1)[0] for i in ids} == {family}
            if split != "train":
                assert (
                    _template_ids(f"genrec_{slug}_{family}_heldout", split)
                    == [f"{family}-heldout"] * heldout[family][split]
                )
    for split in ("train", "validation", "test"):
        per_sample = counts["sequential"]["train"] if split == "train" else heldout["sequential"][split]
        assert _template_ids(f"genrec_{slug}_tiger_sequential", split) == ["tiger"] * per_sample
    num_users = len(tiny_rec.users)
    assert counts["sequential"] == {
        "train": sum(len(u) - 3 for u in tiny_rec.users),
        "validation": num_users,
        "test": num_users,
    }
    assert counts["review"]["test"] == 2 * num_users  # summary + rating templates


def test_training_examples_draw_all_templates_deterministically(registered):
    task = tasks.get("genrec_synthetic_tiny_sequential")
    ids = [
        r["template_id"] for r in task.get_dataset(LENGTHS, split="train", shuffle=False).as_numpy_iterator()
    ]
    assert len(set(ids)) == 13  # every training template is used
    again = [
        r["template_id"] for r in task.get_dataset(LENGTHS, split="train", shuffle=False).as_numpy_iterator()
    ]
    assert ids == again


def test_mixture_batches_have_the_configured_shapes(registered):
    ds = pipeline.train_dataset("genrec_synthetic_tiny_p5_all", LENGTHS, seed=1).batch(4, drop_remainder=True)
    batch = next(ds.as_numpy_iterator())
    for key in ("encoder_input_tokens", "encoder_segment_ids", "encoder_positions"):
        assert batch[key].shape == (4, LENGTHS["inputs"])
    for key in (
        "decoder_target_tokens",
        "decoder_input_tokens",
        "decoder_loss_weights",
        "decoder_segment_ids",
    ):
        assert batch[key].shape == (4, LENGTHS["targets"])
    assert batch["encoder_segment_ids"].max() > 1  # packed
    same = next(
        pipeline.train_dataset("genrec_synthetic_tiny_p5_all", LENGTHS, seed=1)
        .batch(4, drop_remainder=True)
        .as_numpy_iterator()
    )
    for key, value in batch.items():  # the same seed gives the same batches (exact resume)
        np.testing.assert_array_equal(value, same[key], err_msg=key)


def test_eval_examples_are_unpacked_with_ids_and_metadata(registered, tiny_rec):
    features, meta = pipeline.eval_examples("genrec_synthetic_tiny_direct", "test", LENGTHS)
    n = len(tiny_rec.users)
    assert features["encoder_input_tokens"].shape == (n, LENGTHS["inputs"])
    assert features["example_id"].tolist() == list(range(n))
    assert "encoder_segment_ids" not in features
    assert [m["user_index"] for m in meta] == list(range(n))
    assert all(
        len(m["candidates"]) == CONFIG.num_candidates and m["target_item"] in m["candidates"] for m in meta
    )


def test_registration_is_idempotent_and_clearable(registered, tiny_rec, tiny_ids, tiny_vocab):
    again = tasks.register_tasks(tiny_rec.name, tiny_rec, tiny_ids, tiny_vocab, config=CONFIG)
    assert again == registered
    tasks.clear(tiny_rec.name)
    assert not [n for n in seqio.TaskRegistry.names() if n.startswith("genrec_synthetic_tiny")]


def test_missing_family_error_says_why(tiny_rec, tiny_ids, tiny_vocab, clean_registry):
    from genrec.datasets.records import RecDataset, UserHistory

    bare = RecDataset(
        "bare", tiny_rec.items, tuple(UserHistory(u.user_id, u.items, u.timestamps) for u in tiny_rec.users)
    )
    with pytest.raises(ValueError, match="no rating data"):
        tasks.register_tasks("bare", bare, tiny_ids, tiny_vocab, ["sequential", "rating"])
    names = tasks.register_tasks("bare", bare, tiny_ids, tiny_vocab)
    assert "genrec_bare_sequential" in names and "genrec_bare_direct" in names
    with pytest.raises(ValueError, match="genrec_bare_explanation is not registered: .*no review data"):
        tasks.get("genrec_bare_explanation")


def test_metric_fn_scores_each_answer_kind():
    targets = [
        metrics.postprocess(t, example=ex, is_target=True)
        for t, ex in (
            (
                b"4",
                {
                    "answer_kind": b"rating",
                    "template_id": b"review-2",
                    "user_index": 0,
                    "target_item": 3,
                    "target_rating": 4.0,
                },
            ),
            (
                b"Nice gel",
                {
                    "answer_kind": b"text",
                    "template_id": b"review-1",
                    "user_index": 1,
                    "target_item": 5,
                    "target_rating": 5.0,
                },
            ),
        )
    ]
    preds = [metrics.postprocess(p) for p in (b"2", b"Nice gel")]
    scores = metrics.by_answer_kind(targets, preds)
    assert scores["rating/rmse"] == pytest.approx(2.0) and scores["rating/mae"] == pytest.approx(2.0)
    assert scores["text/rougeL"] == pytest.approx(100.0)


def test_hand_worked_direct_candidates_are_everything_the_user_never_had(hand_rec):
    from genrec.tasks import examples

    got = {
        s.user_index: sorted(s.candidates)
        for s in examples.samples("direct", hand_rec, Identifiers.atomic(5), "validation")
    }
    assert got == {0: [2, 4], 1: [1, 2, 3]}  # A owns x0..x3; B owns x4, x2, x0
