"""The content-only scorer against a float64 hand computation."""

import jax.numpy as jnp
import numpy as np

from genrec.baselines import content


def test_content_scores_are_cosines_with_the_recency_weighted_profile():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(7, 5))
    tokens = np.array([[0, 0, 3, 1, 6], [2, 4, 5, 7, 1]], np.int32)  # left-padded, item i = token i + 1
    got = np.asarray(content.scorer(emb, decay=0.5)(jnp.asarray(tokens)))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    for row, seq in enumerate(tokens):
        items = [t - 1 for t in seq if t > 0]
        weights = 0.5 ** np.arange(len(items) - 1, -1, -1, dtype=np.float64)  # newest: weight 1
        profile = (weights[:, None] * unit[items]).sum(0)
        want = unit @ (profile / np.linalg.norm(profile))
        np.testing.assert_allclose(got[row], want, rtol=1e-5, atol=1e-6)
    # the plain mean (decay 1) ranks an item equal to the history's only item first
    single = np.asarray(content.scorer(emb)(jnp.asarray([[0, 0, 0, 0, 4]])))[0]
    assert single.argmax() == 3
