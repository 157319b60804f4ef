"""The vocabulary: SentencePiece pieces learned on the dataset's own text + one piece per identifier token.

Identifier tokens (`<a_12>`, ...) and, where TIGER's task hashes users into tokens, `<u_0>` ..
`<u_{n-1}>` are SentencePiece `user_defined_symbols`: always one piece, never split, whatever text
surrounds them. Ids: pad=0, eos=1, unk=2 (the T5 convention seqio expects); digits are split (so
`user_1234` is spelled with digit pieces, never one token per user); unseen characters fall back to
bytes instead of unk. Training is single-threaded on a deterministic corpus, so the same dataset and
identifiers give the same model bytes.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np
import sentencepiece as spm
import seqio

from genrec.datasets.records import RecDataset
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks.examples import USER_TOKEN, user_tokens
from genrec.tasks.templates import all_families

MODEL_FILE = "spm.model"
_SPECIAL = 3  # pad, eos, unk
_BYTES = 256  # byte-fallback pieces
_MAX_LINE_CHARS = 2000  # SentencePiece skips longer sentences
_TEMPLATE_REPEATS = 20  # prompt words must become pieces, however small the dataset's text


def corpus(dataset: RecDataset, max_sentences: int = 1_000_000, seed: int = 0) -> list[str]:
    """Item text, training-split review text and the training templates (with placeholder values),
    deterministic. Validation/test reviews and summaries (the explanation and review targets) and the
    held-out templates (the zero-shot prompts) stay out: only the training split shapes the vocabulary."""
    lines = [v for field in dataset.items.text.values() for v in field if v]
    for user in dataset.split("train"):
        lines += [t for t in (user.reviews or ()) if t] + [t for t in (user.summaries or ()) if t]
    if len(lines) > max_sentences:
        keep = np.sort(np.random.default_rng(seed).choice(len(lines), max_sentences, replace=False))
        lines = [lines[i] for i in keep]
    placeholder = {
        "user": "user_0123456789",
        "rating": "1 2 3 4 5",
        "guess": "4.5",
        "guess_answer": "yes no",
        "like": "like dislike",
        "candidate_answer": "yes no",
    }
    for family in all_families().values():
        for template in family.train:
            values = {f: placeholder.get(f, "") for f in template.fields}
            lines += [" ".join(template.render(values))] * _TEMPLATE_REPEATS
    return [line[:_MAX_LINE_CHARS] for line in lines]


def build_vocabulary(
    dataset: RecDataset,
    identifiers: Identifiers,
    out_dir: str,
    *,
    text_vocab_size: int = 8000,
    character_coverage: float = 0.9995,
    num_user_tokens: int = 0,
) -> seqio.Vocabulary:
    """Trains the SentencePiece model into `out_dir/spm.model` and returns it as a seqio vocabulary.

    text_vocab_size: pieces for text (an upper bound: a small corpus yields fewer); the model has
    text pieces + one piece per identifier token (+ per user token) + 3 special + 256 byte pieces.
    num_user_tokens: hashed user tokens `<u_K>` to add (ExampleConfig.user_tokens; 0: none).
    """
    symbols = identifiers.all_tokens() + user_tokens(num_user_tokens)
    lines = corpus(dataset)
    logging.info("training SentencePiece on %d lines with %d identifier tokens", len(lines), len(symbols))
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="unigram",
        vocab_size=text_vocab_size + len(symbols) + _SPECIAL + _BYTES,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        user_defined_symbols=symbols,
        split_digits=True,
        byte_fallback=True,
        add_dummy_prefix=False,
        character_coverage=character_coverage,
        input_sentence_size=0,
        num_threads=1,
        minloglevel=2,
    )
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, MODEL_FILE)
    with open(path, "wb") as f:
        f.write(model.getvalue())
    # seqio caches loaded models by path: forget one this process read before it was rebuilt here
    seqio.vocabularies._load_model_internal.cache_clear()
    vocab = load_vocabulary(out_dir)
    item_token_ids(vocab, identifiers)  # fails loudly if an identifier token is not one piece
    assert user_token_count(vocab) == num_user_tokens
    logging.info("vocabulary %s: %d pieces", path, vocab.vocab_size)
    return vocab


def load_vocabulary(out_dir: str) -> seqio.SentencePieceVocabulary:
    path = os.path.join(out_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no vocabulary; build it with genrec.tasks.build_vocabulary")
    return seqio.SentencePieceVocabulary(path)


def user_token_count(vocab: seqio.SentencePieceVocabulary) -> int:
    """How many hashed user tokens (`<u_0>`, `<u_1>`, ...) the vocabulary has as pieces."""
    processor, count = vocab.tokenizer, 0
    while processor.piece_to_id(USER_TOKEN.format(count)) != processor.unk_id():
        count += 1
    return count


def item_token_ids(vocab: seqio.SentencePieceVocabulary, identifiers: Identifiers) -> np.ndarray:
    """int32 [num_items, num_levels]: the token id of each item's identifier tokens (the trie's input)."""
    processor = vocab.tokenizer
    all_tokens = identifiers.all_tokens()
    starts = np.cumsum((0,) + tuple(identifiers.level_sizes))
    level_ids = []
    for level in range(identifiers.num_levels):
        tokens = all_tokens[starts[level] : starts[level + 1]]
        encoded = processor.encode(tokens)
        for token, ids in zip(tokens, encoded):
            if len(ids) != 1 or ids[0] == processor.unk_id():
                raise ValueError(
                    f"identifier token {token!r} encodes to {ids}, not one piece of "
                    f"{vocab.sentencepiece_model_file}; rebuild the vocabulary"
                )
        level_ids.append(np.array([ids[0] for ids in encoded], np.int32))
    codes = np.asarray(identifiers.codes)
    return np.stack([level_ids[l][codes[:, l]] for l in range(identifiers.num_levels)], axis=1)
