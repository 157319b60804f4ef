"""Data-parallel evaluation and batch inference on 8 simulated devices: each device decodes 1/8 of
the users (read from the arrays' shardings and from the shapes the decoder is traced with), and
metrics and recommendations equal a 1-device mesh's."""

import os

import eval_helpers
import helpers
import jax
import numpy as np
import pytest
from data_parallel_helpers import TASK, evaluate_families, spied_evaluator

from genrec.evaluate import data_parallel, evaluator
from genrec.runtime import partitioning


def _meshes():
    assert jax.device_count() == 8
    return partitioning.make_mesh(), partitioning.make_mesh(devices=jax.devices()[:1])


def test_each_device_holds_and_decodes_an_eighth_of_the_users(eval_setup):
    eight, one = _meshes()
    ev = spied_evaluator(eval_setup, seen := [])
    inputs = evaluator.pad_inputs(eval_helpers.examples(TASK + "sequential", limit=16), 16)
    static = dict(search=ev.beam_search, trie=data_parallel.Constant(ev.trie), width=6)
    with jax.set_mesh(eight):
        (placed,) = data_parallel.place((inputs,), eight)
        items, scores = data_parallel.call(
            evaluator.constrained_beams, (ev.model,), (placed,), eight, **static
        )
    assert seen == [2]  # the decoder ran on 2 of the 16 users per device
    for array in (placed, items, scores):
        assert array.sharding.shard_shape(array.shape)[0] == 2
        starts = sorted(s.index[0].start for s in array.addressable_shards)
        assert starts == list(range(0, 16, 2)) and {s.data.shape[0] for s in array.addressable_shards} == {2}
    with jax.set_mesh(one):
        want_items, want_scores = data_parallel.run(
            evaluator.constrained_beams, (ev.model,), (inputs,), **static
        )
    for shard in items.addressable_shards:  # each device's rows are those users' own results
        np.testing.assert_array_equal(np.asarray(shard.data), want_items[shard.index])
    np.testing.assert_array_equal(data_parallel.gather(items), want_items)
    np.testing.assert_allclose(data_parallel.gather(scores), want_scores, atol=1e-5)
    with pytest.raises(ValueError, match="12 rows do not split over the 8 batch shards"):
        data_parallel.place((inputs[:12],), eight)
    assert data_parallel.rows_per_call(20, eight) == 24 and data_parallel.rows_per_call(20, one) == 20


def test_a_trie_built_under_the_mesh_decodes_like_one_built_outside(eval_setup):
    from genrec.model import trie as trie_lib

    eight, _ = _meshes()
    ev = spied_evaluator(eval_setup, [])
    inputs = evaluator.pad_inputs(eval_helpers.examples(TASK + "sequential", limit=8), 8)
    with jax.set_mesh(eight):  # its arrays carry the mesh's sharding
        inside = trie_lib.build_trie(ev.item_tokens)
        got = [
            data_parallel.run(
                evaluator.constrained_beams,
                (ev.model,),
                (inputs,),
                search=ev.beam_search,
                trie=data_parallel.Constant(t),
                width=6,
            )[0]
            for t in (inside, ev.trie)
        ]
    np.testing.assert_array_equal(got[0], got[1])


def test_metrics_on_eight_devices_equal_one_device(eval_setup):
    """Beam search, candidate scoring and greedy text decoding, 13 users each (8 + 5 padded)."""
    got = {}
    for name, mesh in zip(("eight", "one"), _meshes()):
        ev = spied_evaluator(eval_setup, seen := [])
        got[name] = evaluate_families(ev, mesh)
        assert seen == [8 // mesh.size] and ev.decoded_users == 13 - 8  # the compiling call is untimed
    assert got["eight"] == got["one"]
    assert {f: m[0]["examples"] for f, m in got["one"].items()} == {
        "sequential": 13,
        "direct": 13,
        "review": 13,
    }


@pytest.fixture(scope="module")
def bundle(eval_setup, tmp_path_factory):
    from genrec.export.run import export_checkpoint

    root = str(tmp_path_factory.mktemp("dpbundle"))
    ckpt = eval_helpers.save_checkpoint(eval_setup, os.path.join(root, "checkpoints"))
    return export_checkpoint(ckpt, os.path.join(root, "bundle"), dataset=eval_setup["dataset"])


def test_recommend_batch_on_eight_devices_equals_one_device(eval_setup, bundle):
    from genrec.export import recommender as recommender_lib

    rec = recommender_lib.load(bundle, beam_size=8)
    ids = eval_setup["dataset"].items.source_ids
    histories = [[ids[i] for i in u.items[:-1][-3:]] for u in eval_setup["dataset"].split("test")[:11]]
    eight, one = _meshes()
    with jax.set_mesh(eight):
        got = rec.recommend_batch(histories, top_k=5, batch_size=4)  # rounded up to 8 rows: 8 + 3
    with jax.set_mesh(one):
        want = rec.recommend_batch(histories, top_k=5, batch_size=4)
    assert [[r.item for r in row] for row in got] == [[r.item for r in row] for row in want]
    np.testing.assert_allclose(
        [[r.score for r in row] for row in got], [[r.score for r in row] for row in want], atol=1e-5
    )


def test_exact_ranking_and_exact_recommender_split_over_devices():
    """The parallel-digit model's exact scorer: full-catalogue ranks and top-10, and ExactRecommender."""
    from flax import nnx

    from genrec.datasets import synthetic
    from genrec.evaluate import exact, full_ranking
    from genrec.export.recommender import ExactRecommender
    from genrec.model import parallel_ids

    data = synthetic.generate(num_items=40, num_users=45, seed=1, name="dp-exact")
    n = data.num_items
    codes = np.stack([np.arange(n) // 8, np.arange(n) % 8], 1)
    levels = (-(-n // 8), 8)
    config = helpers.tiny_parallel_ids_config(levels, n)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0))
    histories, targets = full_ranking.leave_one_out(data, "test")
    rec = ExactRecommender(
        exact.scorer(model, codes),
        max_len=config.max_len,
        source_ids=data.items.source_ids,
        titles=data.items.source_ids,
    )
    got = {}
    for name, mesh in zip(("eight", "one"), _meshes()):
        with jax.set_mesh(mesh):
            ranked = full_ranking.rank(
                exact.scorer(model, codes), histories, targets, k=10, max_len=8, batch_size=12
            )  # 12 → 16 rows on 8 devices
            recs = rec.recommend_batch(histories[:10], top_k=4, batch_size=3)
        got[name] = ranked + ([[r.item for r in row] for row in recs],)
    for a, b in zip(got["eight"], got["one"]):
        np.testing.assert_array_equal(a, b)
