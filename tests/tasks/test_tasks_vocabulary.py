"""The vocabulary: deterministic, identifier tokens are single pieces, users are spelled in digits."""

import hashlib
import os
import string

import numpy as np
import pytest

from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import vocabulary


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_same_data_gives_same_model_bytes(tiny_rec, tiny_ids, tiny_vocab, tmp_path):
    again = vocabulary.build_vocabulary(tiny_rec, tiny_ids, str(tmp_path), text_vocab_size=400)
    assert _md5(again.sentencepiece_model_file) == _md5(tiny_vocab.sentencepiece_model_file)
    assert os.path.basename(again.sentencepiece_model_file) == vocabulary.MODEL_FILE


def test_special_ids_follow_t5(tiny_vocab):
    assert (tiny_vocab.pad_id, tiny_vocab.eos_id, tiny_vocab.unk_id) == (0, 1, 2)


def test_item_token_ids_match_piece_lookup(tiny_vocab, tiny_ids):
    ids = vocabulary.item_token_ids(tiny_vocab, tiny_ids)
    assert ids.shape == (tiny_ids.num_items, 2)
    sp = tiny_vocab.tokenizer
    for item in (0, 7, 8, tiny_ids.num_items - 1):
        assert ids[item].tolist() == [sp.piece_to_id(t) for t in tiny_ids.tokens(item)]
        # an item's identifier text encodes to exactly its token ids, whatever text surrounds it
        assert tiny_vocab.encode(tiny_ids.text(item)) == ids[item].tolist()
        assert ids[item].tolist() == tiny_vocab.encode(f"bought{tiny_ids.text(item)}.")[-3:-1]
    assert len(np.unique(ids[:, 0])) == 8 and (ids > 2).all()


def test_users_are_spelled_with_digit_pieces(tiny_vocab):
    pieces = tiny_vocab.tokenizer.encode("user_4071", out_type=str)
    assert pieces[-4:] == ["4", "0", "7", "1"]
    assert tiny_vocab.decode(tiny_vocab.encode("user_4071 likes <a_3><b_1>")) == "user_4071 likes <a_3><b_1>"


def test_unseen_characters_fall_back_to_bytes_not_unk(tiny_vocab):
    ids = tiny_vocab.encode("crème brûlée ✓")
    assert tiny_vocab.unk_id not in ids
    assert tiny_vocab.decode(ids) == "crème brûlée ✓"


def test_atomic_identifiers_with_12k_items(tiny_rec, tmp_path):
    atomic = Identifiers.atomic(12_000)
    vocab = vocabulary.build_vocabulary(tiny_rec, atomic, str(tmp_path), text_vocab_size=300)
    ids = vocabulary.item_token_ids(vocab, atomic)
    assert ids.shape == (12_000, 1) and len(np.unique(ids)) == 12_000
    assert vocab.encode("<a_11999><a_0>") == [ids[11999, 0], ids[0, 0]]


def test_item_token_ids_rejects_a_vocabulary_without_the_tokens(tiny_vocab):
    other = Identifiers("other", np.array([[0, 0], [1, 0]], np.int32), (2, 70))  # tiny_ids stop at <b_19>
    with pytest.raises(ValueError, match="<b_20>.* not one piece"):
        vocabulary.item_token_ids(tiny_vocab, other)


def test_user_tokens_are_single_pieces_only_when_asked_for(tiny_rec, tiny_ids, tiny_vocab, tmp_path):
    from genrec.tasks import examples

    assert vocabulary.user_token_count(tiny_vocab) == 0
    vocab = vocabulary.build_vocabulary(
        tiny_rec, tiny_ids, str(tmp_path), text_vocab_size=400, num_user_tokens=30
    )
    assert vocabulary.user_token_count(vocab) == 30 and vocab.vocab_size == tiny_vocab.vocab_size + 30
    text = examples.user_tokens(30)[29] + tiny_ids.text(5)
    assert vocab.tokenizer.encode(text, out_type=str) == ["<u_29>", *tiny_ids.tokens(5)]
    assert (
        vocabulary.item_token_ids(vocab, tiny_ids).tolist()
        == vocabulary.item_token_ids(tiny_vocab, tiny_ids).tolist()
    )  # identifier tokens keep their ids


def _literals(text):
    """The fixed text of a template string, split at its fields."""
    return [literal.strip() for literal, _, _, _ in string.Formatter().parse(text) if literal.strip()]


def test_corpus_holds_only_training_text_and_training_templates():
    from genrec.datasets import prepare
    from genrec.tasks.templates import all_families

    users, items = ["A"] * 4 + ["B"] * 3, ["x0", "x1", "x2", "x3", "x4", "x2", "x0"]
    raw = prepare.RawInteractions(
        users=users,
        items=items,
        timestamps=[1, 2, 3, 4, 1, 2, 3],
        ratings=[5, 4, 2, 5, 1, 3, 4],
        reviews=[f"review{k} zq{u}{i}" for k, (u, i) in enumerate(zip(users, items))],
        summaries=[f"summary{k}" for k in range(7)],
    )
    dataset = prepare.build_dataset("corpus", raw, {f"x{i}": {"title": f"Item {i}"} for i in range(5)})
    text = "\n".join(vocabulary.corpus(dataset))
    train, held_out = {0, 1, 4}, {2, 3, 5, 6}  # A's last two and B's last two are validation/test
    for k in range(7):
        for written in (f"review{k} ", f"summary{k}\n"):
            assert (written in text + "\n") == (k in train), (written, k)
    assert held_out and "zqA" in text
    families = all_families().values()
    seen = " ".join(part for f in families for t in f.train for part in (t.inputs, t.targets))
    for family in families:
        own = [lit for lit in _literals(family.heldout.inputs) if lit not in seen]
        assert own, f"{family.heldout.id} has no wording of its own to look for"
        assert not [lit for lit in own if lit in text], family.heldout.id
        assert all(lit in text for t in family.train for lit in _literals(t.inputs))
