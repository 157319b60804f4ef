"""TIGER's task (identifier tokens only, every training pair once per epoch) and the P5 templates drawn
afresh every epoch."""

import collections

import numpy as np
import pytest

from genrec import tasks
from genrec.tasks import examples, vocabulary
from genrec.tasks.examples import ExampleConfig
from genrec.tasks.templates import all_families

LENGTHS = {"inputs": 2 * 20 + 2, "targets": 8}  # 20 two-token identifiers + user token + EOS
NAME = "tiger-small"  # synthetic_small registered under its own name (other suites keep "synthetic")
TASK, MIXTURE = "genrec_tiger_small_tiger_sequential", "genrec_tiger_small_tiger"
BUCKETS = 50


@pytest.fixture(scope="module")
def small(synthetic_small, small_ids, tmp_path_factory):
    vocab = vocabulary.build_vocabulary(
        synthetic_small,
        small_ids,
        str(tmp_path_factory.mktemp("vocab")),
        text_vocab_size=300,
        num_user_tokens=BUCKETS,
    )
    return synthetic_small, small_ids, vocab


@pytest.fixture
def registered(small, clean_registry):
    rec, ids, vocab = small
    return tasks.register_tasks(
        NAME, rec, ids, vocab, ["sequential"], config=ExampleConfig(user_tokens=BUCKETS)
    )


def _examples(task, split, **kwargs):
    return list(tasks.get(task).get_dataset(LENGTHS, split=split, **kwargs).as_numpy_iterator())


def _epochs(task, epochs, seed):
    """`epochs` epochs of the task's shuffled training stream, split at the epoch boundaries (seqio's
    example buffer, which mixes neighbouring epochs, is set to one example)."""
    stream = _examples(task, "train", shuffle=True, seed=seed, num_epochs=epochs, shuffle_buffer_size=1)
    n = len(stream) // epochs
    return [stream[e * n : (e + 1) * n] for e in range(epochs)]


def test_tiger_is_registered_with_its_own_mixture(registered):
    from genrec.evaluate.evaluator import task_family

    assert TASK in registered and MIXTURE in registered
    assert task_family(TASK) == "sequential"  # scored by beam search, like the sequential family
    assert [t.name for t in tasks.get(MIXTURE).tasks] == [TASK]
    assert TASK not in [t.name for t in tasks.get("genrec_tiger_small_sequential_mix").tasks]


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_inputs_are_the_user_token_and_the_last_20_identifiers(registered, small, split):
    rec, ids, vocab = small
    piece = vocab.tokenizer.id_to_piece
    truncated = 0
    for ex in _examples(TASK, split, shuffle=False):
        user = rec.users[ex["user_index"]].user_id
        shown = ex["history_items"][-20:]
        truncated += len(ex["history_items"]) > 20
        expected = (
            [examples.user_token(user, BUCKETS)] + [t for i in shown for t in ids.tokens(int(i))] + ["</s>"]
        )
        assert [piece(int(i)) for i in ex["inputs"]] == expected
        assert [piece(int(i)) for i in ex["targets"]] == [*ids.tokens(int(ex["target_item"])), "</s>"]
        assert (ex["template_id"], ex["answer_kind"]) == (b"tiger", b"item")
    assert truncated  # some histories are longer than 20 items


def test_every_training_pair_is_a_target_once_per_epoch(registered, small):
    rec, _, _ = small
    expected = collections.Counter(
        (u, tuple(items[:t].tolist()), int(items[t]))
        for u, items in enumerate(h.items for h in rec.split("train"))
        for t in range(1, len(items))
    )
    for epoch in _epochs(TASK, 2, seed=3):
        assert (
            collections.Counter(
                (int(e["user_index"]), tuple(e["history_items"].tolist()), int(e["target_item"]))
                for e in epoch
            )
            == expected
        )


def test_validation_and_test_history_is_everything_before_the_held_out_item(registered, small):
    rec, _, _ = small
    for split, hidden in (("validation", 2), ("test", 1)):
        got = [(e["history_items"].tolist(), e["target_item"]) for e in _examples(TASK, split, shuffle=False)]
        assert got == [(u.items[:-hidden].tolist(), u.items[-hidden]) for u in rec.users]


def test_user_tokens_are_deterministic_and_optional(small, clean_registry):
    rec, ids, vocab = small
    tokens = [examples.user_token(u.user_id, BUCKETS) for u in rec.users]
    assert tokens == [examples.user_token(u.user_id, BUCKETS) for u in rec.users]
    assert set(tokens) <= set(examples.user_tokens(BUCKETS)) and len(set(tokens)) > BUCKETS // 2
    fields = lambda config: [
        s.fields["user_token"]
        for s in examples.samples(  # noqa: E731
            "sequential", rec, ids, "test", config
        )
    ]
    assert fields(ExampleConfig(user_tokens=BUCKETS, seed=5)) == tokens  # whatever the seed
    assert set(fields(ExampleConfig())) == {""}
    tasks.register_tasks(NAME, rec, ids, vocab, ["sequential"])
    first = _examples(TASK, "test", shuffle=False)[0]
    assert vocab.tokenizer.id_to_piece(int(first["inputs"][0])).startswith("<a_")


def _templates_by_epoch(task, epochs, seed):
    out = []
    for epoch in _epochs(task, epochs, seed):
        out.append(
            {(int(x["user_index"]), len(x["history_items"])): x["template_id"].decode() for x in epoch}
        )
        assert len(out[-1]) == len(epoch)  # every sample once
    return out


def test_p5_templates_are_drawn_afresh_every_epoch_and_reproducibly(
    tiny_rec, tiny_ids, tiny_vocab, clean_registry
):
    tasks.register_tasks(tiny_rec.name, tiny_rec, tiny_ids, tiny_vocab, ["sequential"])
    task = "genrec_synthetic_tiny_sequential"  # 402 samples: seqio caches its source in memory
    first, second = _templates_by_epoch(task, 2, seed=1)
    changed = np.mean([first[k] != second[k] for k in first])
    assert 0.8 < changed < 1.0  # 12/13 expected
    for epoch in (first, second):
        assert len(set(epoch.values())) == 13
    assert _templates_by_epoch(task, 2, seed=1) == [first, second]
    assert _templates_by_epoch(task, 2, seed=2) != [first, second]


def test_training_templates_render_as_str_format(tiny_rec, tiny_ids, tiny_vocab, clean_registry):
    """The TF rendering of training examples equals Template.render on the sample's fields."""
    tasks.register_tasks(tiny_rec.name, tiny_rec, tiny_ids, tiny_vocab)
    for family, templates in all_families().items():
        samples = list(examples.samples(family, tiny_rec, tiny_ids, "train"))
        got = _examples(f"genrec_synthetic_tiny_{family}", "train", shuffle=False)
        assert len(got) == len(samples)
        for sample, ex in zip(samples, got):
            inputs, targets = templates.by_id(ex["template_id"].decode()).render(sample.fields)
            assert (ex["inputs_pretokenized"].decode(), ex["targets_pretokenized"].decode()) == (
                inputs,
                targets,
            )
