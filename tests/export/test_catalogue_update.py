"""Catalogue updates of a bundle (genrec/export/catalogue_update.py): added items are recommended,
removed ones are not, existing identifiers never change, a failed update changes nothing, and users
whose histories do not touch the new items keep their recommendations bit for bit."""

import hashlib
import json
import os

import helpers
import numpy as np
import pytest

from genrec.datasets import records, synthetic
from genrec.datasets.textio import DataError
from genrec.export import bundle as bundle_lib
from genrec.export import catalogue_update
from genrec.export import recommender as recommender_lib
from genrec.semantic_ids import artifact, coder, collisions, encoders, opq, text

N_OLD = 260


@pytest.fixture(scope="module")
def dataset():
    return synthetic.generate(num_items=300, seed=11)


def _subset(items: records.ItemTable, rows) -> records.ItemTable:
    return records.ItemTable(
        tuple(items.source_ids[i] for i in rows),
        {f: tuple(v[i] for i in rows) for f, v in items.text.items()},
    )


def write_parallel_bundle(directory: str, items: records.ItemTable, *, seed: int = 0, **written) -> str:
    """A parallel-digit bundle whose identifiers (OPQ over frozen TF-IDF+SVD) carry their coder;
    `written`: write_bundle's `trained` and `serving`."""
    from flax import nnx

    from genrec.model import parallel_ids
    from genrec.model.config import BlockConfig

    x, frozen = encoders.TfidfSvdEncoder(dim=32).fit(text.item_texts(items))
    result = opq.fit(x, opq.OPQConfig(num_digits=4, codebook_size=16, iters=3, seed=seed), progress=False)
    codes, size, _ = collisions.add_collision_level(result.codes)
    ids = artifact.Identifiers(
        "opq",
        codes,
        (16,) * 4 + (size,),
        items.source_ids,
        "synthetic",
        coder.ItemCoder(coder.item_texts_settings(), frozen, "opq", result),
    )
    config = parallel_ids.ParallelIdConfig(
        level_sizes=ids.level_sizes,
        num_items=items.num_items,
        block=BlockConfig(d_model=32, num_heads=2, head_dim=16, mlp_dim=64, dropout_rate=0.0),
        num_layers=1,
        max_len=20,
    )
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(seed))
    return bundle_lib.write_bundle(
        directory,
        model=model,
        model_config=config.to_dict(),
        identifiers=ids,
        source_ids=items.source_ids,
        titles=items.field("title"),
        provenance={"dataset": "synthetic"},
        model_kind="parallel_ids",
        **written,
    )


def write_item_file(path: str, items: records.ItemTable) -> str:
    """The metadata JSON-lines format of the Amazon datasets."""
    with open(path, "w") as f:
        for i, source_id in enumerate(items.source_ids):
            f.write(
                json.dumps(
                    {
                        "asin": source_id,
                        "title": items.field("title")[i],
                        "brand": items.field("brand")[i],
                        "categories": [items.field("categories")[i].split("|")],
                    }
                )
                + "\n"
            )
    return path


def load_recommender(bundle: str, **options):
    """The serving path (`recommender.load`; `Recommender.load` before the model-family refactor)."""
    from genrec.export import recommender

    if hasattr(recommender, "load"):
        return recommender.load(bundle, **options)
    return recommender.Recommender.load(bundle, **options)


def tree_digest(directory: str) -> dict:
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def catalogue(dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    bundle = write_parallel_bundle(str(root / "bundle"), _subset(dataset.items, range(N_OLD)))
    new_items = write_item_file(str(root / "new.jsonl"), _subset(dataset.items, range(N_OLD, 300)))
    return dict(root=root, bundle=bundle, new_items=new_items)


def _histories(dataset, count=24):
    """Test histories of the old catalogue's items only, as source ids."""
    out = []
    for u in dataset.split("test"):
        if (u.items < N_OLD).all():
            out.append([dataset.items.source_ids[i] for i in u.items[:-1]])
        if len(out) == count:
            return out
    return out


def test_add_items_keeps_identifiers_and_recommendations_and_serves_the_new_items(dataset, catalogue):
    bundle = catalogue["bundle"]
    before_ids = bundle_lib.read_bundle(bundle).identifiers
    histories = _histories(dataset)
    before = load_recommender(bundle).recommend_batch(histories, top_k=10, batch_size=8)

    entry = catalogue_update.add_items(bundle, catalogue["new_items"])
    assert entry["added"] == 40 and entry["num_items"] == 300 and entry["version"] == 1

    b = bundle_lib.read_bundle(bundle)
    np.testing.assert_array_equal(b.identifiers.codes[:N_OLD], before_ids.codes)  # never change
    assert b.source_ids == dataset.items.source_ids[:300]
    assert len({tuple(c) for c in b.identifiers.codes.tolist()}) == 300
    assert (b.identifiers.codes[N_OLD:] < np.array(b.identifiers.level_sizes)).all()
    # a new item's identifier is its own OPQ code (or a fallback one digit away) under the frozen coder
    own = before_ids.coder.candidates(_subset(dataset.items, range(N_OLD, 300)), 1)[:, 0]
    assert (b.identifiers.codes[N_OLD:, :4] == own).all(1).mean() >= 0.9
    assert b.titles[N_OLD:] == dataset.items.field("title")[N_OLD:300]
    assert os.path.isdir(bundle + ".versions/v0")  # the previous version, kept

    rec = load_recommender(bundle)
    after = rec.recommend_batch(histories, top_k=10, batch_size=8)
    recommended_new = 0
    for old_list, new_list in zip(before, after):
        kept = [(r.item, r.score) for r in new_list if r.item < N_OLD]
        # the old items keep their order and their scores bit for bit; new items only slot in between
        # (item_topk._layout keeps the matmul shapes when the catalogue grows a little)
        assert kept == [(r.item, r.score) for r in old_list[: len(kept)]]
        recommended_new += sum(r.item >= N_OLD for r in new_list)
        if len(kept) < 10:
            assert min(r.score for r in new_list if r.item >= N_OLD) >= old_list[len(kept)].score
    assert recommended_new > 0  # added items are recommended
    # and can be in a history
    new_id = dataset.items.source_ids[N_OLD + 3]
    assert len(rec.recommend([histories[0][0], new_id], top_k=5)) == 5


def test_items_never_trained_on_get_the_unseen_item_prior_new_ones_included(dataset, tmp_path):
    """A bundle exported with `unseen_item_bonus` (configs/runs/unseen_item_prior.gin) adds it to the
    score of every item it did not train on, and to every item `add-items` brings in; the flags follow
    add-items and remove-items; the other items' scores are those of a bundle without the prior."""
    items, bonus = _subset(dataset.items, range(N_OLD)), 4.0
    trained = [i % 5 != 0 for i in range(N_OLD)]
    plain = write_parallel_bundle(str(tmp_path / "plain"), items, trained=trained)
    prior = write_parallel_bundle(
        str(tmp_path / "prior"), items, trained=trained, serving={"unseen_item_bonus": bonus}
    )
    new_items = write_item_file(str(tmp_path / "new.jsonl"), _subset(dataset.items, range(N_OLD, 300)))
    for bundle in (plain, prior):
        catalogue_update.add_items(bundle, new_items)
    b = bundle_lib.read_bundle(prior)
    assert b.trained == tuple(trained) + (False,) * (300 - N_OLD)
    np.testing.assert_array_equal(b.item_bonus, np.where(b.trained, 0.0, bonus).astype(np.float32))
    assert bundle_lib.read_bundle(plain).item_bonus is None  # no bonus in its manifest
    histories = _histories(dataset, 6)
    by_bundle = [
        [
            {r.item: r.score for r in recs}
            for recs in load_recommender(x).recommend_batch(histories, top_k=300)
        ]
        for x in (plain, prior)
    ]
    for without, with_prior in zip(*by_bundle):
        assert without.keys() == with_prior.keys() and len(without) > 250  # every item but the history
        for item, score in without.items():
            np.testing.assert_allclose(
                with_prior[item], score + (0.0 if b.trained[item] else bonus), atol=1e-4
            )
    gone = tmp_path / "gone.txt"
    gone.write_text(f"{b.source_ids[0]}\n{b.source_ids[1]}\n{b.source_ids[-1]}\n")
    catalogue_update.remove_items(prior, str(gone))
    assert bundle_lib.read_bundle(prior).trained == b.trained[2:-1]


def test_remove_items_takes_them_out_of_every_list(dataset, catalogue, tmp_path):
    bundle = catalogue["bundle"]
    b = bundle_lib.read_bundle(bundle)
    gone = [b.source_ids[i] for i in (0, 5, N_OLD - 1, len(b.source_ids) - 1)]
    ids_file = tmp_path / "gone.txt"
    ids_file.write_text("\n".join(gone) + "\n")
    keep_codes = {s: tuple(c) for s, c in zip(b.source_ids, b.identifiers.codes.tolist()) if s not in gone}

    entry = catalogue_update.remove_items(bundle, str(ids_file))
    assert entry["removed"] == 4
    after = bundle_lib.read_bundle(bundle)
    assert not set(gone) & set(after.source_ids)
    assert {s: tuple(c) for s, c in zip(after.source_ids, after.identifiers.codes.tolist())} == keep_codes
    rec = load_recommender(bundle)
    everything = rec.recommend(_histories(dataset, 1)[0], top_k=len(after.source_ids))
    assert not {r.source_id for r in everything} & set(gone)
    with pytest.raises(ValueError, match="unknown items in history"):
        rec.recommend([gone[0]], top_k=5)
    with open(os.path.join(bundle, catalogue_update.CATALOGUE)) as f:
        assert [u["action"] for u in json.load(f)["updates"]] == ["add", "remove"]


BAD_FILES = {
    "malformed.jsonl": (
        '{"asin": "N1", "title": "fine"}\n\n{"asin": "N2", "title": \n',
        r"malformed.jsonl:3",
    ),
    "dup.jsonl": (
        '{"asin": "N1", "title": "a"}\n{"asin": "N1", "title": "b"}\n',
        r"dup.jsonl:2: item 'N1' already given on line 1",
    ),
    "known.jsonl": (None, r"known.jsonl:1: item .* is already in the catalogue"),
    "notext.jsonl": (
        '{"asin": "N1", "title": "a"}\n{"asin": "N9", "title": "  "}\n',
        r"notext.jsonl:2: item 'N9' has no text",
    ),
    "noid.tsv": (
        "item_id\tasin\ttitle\tattributes\n1\tN1\tLip gloss\tMakeup\n2\t\tNo id\tMakeup\n",
        r"noid.tsv:3: missing required field 'asin'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_item_file_leaves_the_bundle_identical_and_names_file_and_line(catalogue, tmp_path, name):
    bundle = catalogue["bundle"]
    content, message = BAD_FILES[name]
    if content is None:
        content = json.dumps({"asin": bundle_lib.read_bundle(bundle).source_ids[7], "title": "again"}) + "\n"
    path = tmp_path / name
    path.write_text(content)
    digest = tree_digest(bundle)
    with pytest.raises(DataError, match=message):
        catalogue_update.add_items(bundle, str(path))
    assert tree_digest(bundle) == digest
    bundle_lib.read_bundle(bundle)
    assert not [d for d in os.listdir(os.path.dirname(bundle)) if ".staging-" in d]


def test_the_mips_index_follows_the_catalogue(dataset, tmp_path):
    """A flat (exact inner-product) index: after add-items (extended) and remove-items (rebuilt) it
    holds every item, and the recommender serving through it returns what exact ranking returns."""
    import shutil

    from genrec.evaluate import exact
    from genrec.export import mips_index

    bundle = write_parallel_bundle(str(tmp_path / "bundle"), _subset(dataset.items, range(40)))
    b = bundle_lib.read_bundle(bundle)
    vectors = exact.item_vectors(recommender_lib.load_model(b), b.identifiers.codes)
    mips_index.build(np.asarray(vectors), kind="flat").save(os.path.join(bundle, catalogue_update.MIPS_INDEX))
    entry = catalogue_update.add_items(
        bundle, write_item_file(str(tmp_path / "new.jsonl"), _subset(dataset.items, range(40, 60)))
    )
    assert entry["mips_index"] == "extended"
    assert mips_index.MipsIndex.load(os.path.join(bundle, catalogue_update.MIPS_INDEX)).num_items == 60
    exact_copy = str(tmp_path / "exact")
    shutil.copytree(bundle, exact_copy)
    shutil.rmtree(os.path.join(exact_copy, catalogue_update.MIPS_INDEX))
    histories = [[dataset.items.source_ids[i] for i in rows] for rows in ((1, 2, 3), (7, 45))]
    served = load_recommender(bundle).recommend_batch(histories, top_k=8)
    reference = load_recommender(exact_copy).recommend_batch(histories, top_k=8)
    assert [[r.item for r in row] for row in served] == [[r.item for r in row] for row in reference]
    assert any(r.item >= 40 for row in served for r in row)
    # a removal renumbers rows: the index is rebuilt, and still serves what exact ranking serves
    gone = tmp_path / "gone.txt"
    gone.write_text(dataset.items.source_ids[5] + "\n" + dataset.items.source_ids[44] + "\n")
    assert catalogue_update.remove_items(bundle, str(gone))["mips_index"] == "rebuilt"
    shutil.rmtree(exact_copy)
    shutil.copytree(bundle, exact_copy)
    shutil.rmtree(os.path.join(exact_copy, catalogue_update.MIPS_INDEX))
    served = load_recommender(bundle).recommend_batch(histories, top_k=8)
    reference = load_recommender(exact_copy).recommend_batch(histories, top_k=8)
    assert [[r.source_id for r in row] for row in served] == [[r.source_id for r in row] for row in reference]


def test_swap_directories_exchanges_contents(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("new")
    (b / "x").write_text("old")
    catalogue_update.swap_directories(str(a), str(b))
    assert (b / "x").read_text() == "new" and (a / "x").read_text() == "old"


def test_subcommands_become_run_modes():
    from genrec import main

    argv = main.rewrite_gin_args(["genrec", "add-items", "--bundle=/b", "--items=/d/new items.tsv"])
    assert argv == [
        "genrec",
        "--run_mode=add_items",
        "--gin_bindings=add_items_run.items_file = '/d/new items.tsv'",
        "--bundle=/b",
    ]
    assert (
        main.rewrite_gin_args(["genrec", "remove-items", "--items=x.txt", "--bundle=/b"])[1]
        == "--run_mode=remove_items"
    )


def test_encoder_decoder_bundle_gets_new_items_in_its_trie(dataset, tmp_path):
    """RQ-KMeans identifiers + a tiny encoder-decoder: new items enter the trie with the vocabulary's
    token ids; with a beam as wide as the catalogue (exact), old items keep their scores bit for bit."""
    import seqio
    from flax import nnx

    from genrec.model.network import EncoderDecoder
    from genrec.semantic_ids import rqkmeans
    from genrec.tasks.vocabulary import build_vocabulary, item_token_ids

    old_items = _subset(dataset.items, range(N_OLD))
    x, frozen = encoders.TfidfSvdEncoder(dim=32).fit(text.item_texts(old_items))
    result = rqkmeans.fit(x, rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=5), progress=False)
    codes, size, _ = collisions.add_collision_level(result.codes)
    ids = artifact.Identifiers(
        "rqkmeans",
        codes,
        (16, 16, size),
        old_items.source_ids,
        "synthetic",
        coder.ItemCoder(coder.item_texts_settings(), frozen, "rqkmeans", result),
    )
    vocabulary = build_vocabulary(
        records.RecDataset("synthetic", old_items, ()), ids, str(tmp_path / "vocab"), text_vocab_size=200
    )
    config = helpers.tiny_t5_config(vocabulary.vocab_size)
    bundle = bundle_lib.write_bundle(
        str(tmp_path / "bundle"),
        model=EncoderDecoder(config, rngs=nnx.Rngs(0)),
        model_config=config.to_dict(),
        identifiers=ids,
        source_ids=old_items.source_ids,
        titles=old_items.field("title"),
        provenance={},
        vocabulary_path=vocabulary.sentencepiece_model_file,
        item_tokens=item_token_ids(vocabulary, ids),
        prompt=bundle_lib.Prompt("Items: {history}"),
        model_kind="encoder_decoder",
    )
    history = [old_items.source_ids[i] for i in (3, 17, 40)]
    before = load_recommender(bundle, beam_size=320).recommend(history, top_k=N_OLD - 3)

    catalogue_update.add_items(
        bundle, write_item_file(str(tmp_path / "new.jsonl"), _subset(dataset.items, range(N_OLD, 300)))
    )
    b = bundle_lib.read_bundle(bundle)
    assert b.trie.num_items == 300
    np.testing.assert_array_equal(b.identifiers.codes[:N_OLD], ids.codes)
    reference = item_token_ids(seqio.SentencePieceVocabulary(b.vocabulary_path), b.identifiers)
    np.testing.assert_array_equal(b.item_tokens, reference)
    after = load_recommender(bundle, beam_size=320).recommend(history, top_k=300 - 3)
    assert {r.item for r in after} == set(range(300)) - {3, 17, 40}  # every new item is reachable
    assert [(r.item, r.score) for r in after if r.item < N_OLD] == [(r.item, r.score) for r in before]
