"""benchmarks/decode/digit_beam.py: the constrained digit beam against the same search written out over
code prefixes in Python, and against exact ranking (a catalogue-wide beam is exact; beam 1 is not)."""

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.decode.digit_beam import constrained_digit_beam
from genrec.model import parallel_ids
from genrec.model.trie import build_trie


def test_constrained_digit_beam_against_a_python_beam_and_exact_ranking():
    rng = np.random.default_rng(6)
    codes = np.unique(rng.integers(0, 4, size=(60, 3)), axis=0)[rng.permutation(30)]  # 30 items, shuffled
    log_probs = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(3, 3, 4)) * 2, jnp.float32), axis=-1)
    trie = build_trie(codes)
    exact = np.asarray(parallel_ids.item_scores(log_probs, jnp.asarray(codes)))
    for beam in (1, 3, 30):
        items, scores = map(np.asarray, constrained_digit_beam(log_probs, trie, beam))
        for b in range(3):  # the same search, written out over code prefixes
            prefixes = [((), 0.0)]
            for m in range(3):
                grown = {
                    (p + (int(c[m]),)): s + float(log_probs[b, m, c[m]])
                    for p, s in prefixes
                    for c in codes
                    if tuple(c[:m]) == p
                }
                prefixes = sorted(grown.items(), key=lambda x: -x[1])[:beam]
            expected = [int(np.flatnonzero((codes == p).all(axis=1))[0]) for p, _ in prefixes]
            assert items[b].tolist() == expected
            np.testing.assert_allclose(scores[b], exact[b, expected], rtol=1e-5)
        if beam == 30:  # a beam as wide as the catalogue is exact ranking
            assert (items == np.argsort(-exact, axis=1, kind="stable")).all()
    # Beam 1 commits to the likelier first digit and misses the best item, which exact ranking finds.
    hand = jnp.log(jnp.asarray([[[0.6, 0.4], [0.1, 0.9]]]))
    items, _ = constrained_digit_beam(hand, build_trie(np.array([[0, 0], [1, 1]])), 1)
    best = int(np.argmax(parallel_ids.item_scores(hand, jnp.asarray([[0, 0], [1, 1]]))))
    assert items.tolist() == [[0]] and best == 1
