"""The frozen item coder: saved with the identifiers, it codes the fitted items as the fit did, and
new items get identifiers that leave every existing one unchanged."""

import numpy as np
import pytest

from genrec.datasets import records, synthetic
from genrec.semantic_ids import artifact, coder, collisions, encoders, opq, rqkmeans, schemes, text


@pytest.fixture(scope="module")
def dataset():
    return synthetic.generate(num_items=300, seed=5)


def _fit(dataset, kind):
    x, frozen = encoders.TfidfSvdEncoder().fit(text.metadata_texts(dataset))
    if kind == "opq":
        result = opq.fit(x, opq.OPQConfig(num_digits=8, codebook_size=16, iters=3), progress=False)
    else:
        result = rqkmeans.fit(
            x, rqkmeans.RQKMeansConfig(num_levels=3, codebook_size=16, iters=5), progress=False
        )
    return x, coder.ItemCoder(coder.item_texts_settings(), frozen, kind, result)


@pytest.mark.parametrize("kind", ["opq", "rqkmeans"])
def test_saved_coder_codes_the_fitted_embeddings_as_the_fit_did(dataset, kind, tmp_path):
    x, item_coder = _fit(dataset, kind)
    raw = schemes.SchemeCodes(
        kind, item_coder.quantiser.codes, (16,) * item_coder.quantiser.codes.shape[1], coder=item_coder
    )
    ids, _ = schemes.identifiers_from(dataset, raw)
    ids.save(str(tmp_path))
    loaded = artifact.Identifiers.load(str(tmp_path))
    assert loaded.coder is not None and loaded.coder.quantiser_kind == kind
    got = loaded.coder.quantiser.candidates(x, 4)
    assert got.shape == (dataset.num_items, 4, ids.num_levels - 1)
    agree = (got[:, 0] == item_coder.quantiser.codes).all(1).mean()
    assert agree >= (1.0 if kind == "opq" else 0.97)
    # fallbacks differ from the first choice in exactly one digit (OPQ) / the last level (RQ)
    changed = (got[:, 1:] != got[:, :1]).sum(-1)
    assert (changed == 1).all()
    # the frozen text encoder puts the fitted texts next to where the fit put them
    again = loaded.coder.text_encoder.encode(loaded.coder.texts(dataset.items))
    assert np.min(np.sum(again * x, axis=1)) > 0.98


def test_one_digit_candidates_follow_the_summed_distance():
    from genrec.semantic_ids import inputs

    d = np.array([[[0.0, 5.0, 1.0], [2.0, 0.5, 3.0]]])  # 1 item, 2 digits, 3 codes
    got = inputs.one_digit_candidates(d, 5)
    # nearest (0, 1); then digit 0 → code 2 (+1.0), digit 1 → code 0 (+1.5), digit 1 → 2 (+2.5), ...
    np.testing.assert_array_equal(got[0], [[0, 1], [2, 1], [0, 0], [0, 2], [1, 1]])


def test_assign_new_keeps_existing_identifiers_and_uses_free_collision_codes():
    existing = np.array([[0, 0, 0], [0, 0, 1], [1, 2, 0]], np.int32)
    cands = np.array(
        [
            [[0, 0], [1, 1]],  # (0,0) has codes 0 and 1 taken; level size 3 → code 2
            [[0, 0], [1, 2]],  # (0,0) now full → next candidate (1,2) gets code 1
            [[2, 2], [0, 0]],
        ],
        np.int32,
    )
    codes, took = collisions.assign_new(existing, (3, 3, 3), cands)
    np.testing.assert_array_equal(codes, [[0, 0, 2], [1, 2, 1], [2, 2, 0]])
    np.testing.assert_array_equal(took, [0, 1, 0])
    with pytest.raises(collisions.NoFreeIdentifier, match="new item 0"):
        collisions.assign_new(existing, (3, 3, 2), np.array([[[0, 0]]], np.int32))
    full = len({tuple(r) for r in np.concatenate([existing, codes]).tolist()})
    assert full == 6  # all distinct


def test_coder_is_built_by_the_text_schemes(dataset):
    raw = schemes.rqkmeans_scheme(
        dataset, config=rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=3)
    )
    assert raw.coder is not None and raw.coder.quantiser_kind == "rqkmeans"
    new_items = records.ItemTable(
        ("NEW1",), {"title": ("a brand new lipstick",), "brand": ("",), "categories": ("Makeup",)}
    )
    assert raw.coder.candidates(new_items, 3).shape == (1, 3, 2)


def test_frozen_rqvae_codes_the_items_as_training_did(item_vectors, small_rqvae_config):
    from genrec.semantic_ids import rqvae

    result = rqvae.fit(item_vectors, small_rqvae_config, progress=False)
    frozen = rqvae.RQVAEResult.from_arrays(result.to_arrays())
    assert not any(name.startswith("decoder") for name in result.to_arrays())  # the decoder stays out
    got = frozen.candidates(item_vectors, 3)
    np.testing.assert_array_equal(got[:, 0], result.codes)
    np.testing.assert_array_equal(got[:, 1:, :-1], got[:, :1, :-1].repeat(2, 1))  # fallbacks: last level
