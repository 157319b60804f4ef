"""Bundle round trip (checkpoint → bundle → Recommender), prompts, errors, and the recommend CLI."""

import json
import os

import eval_helpers
import numpy as np
import pytest


def _in_process(setup, **kw):
    from genrec.export.bundle import Prompt
    from genrec.export.recommender import Recommender
    from genrec.tasks import item_token_ids
    from genrec.tasks.templates import all_families

    return Recommender(
        setup["model"],
        vocabulary=setup["vocabulary"],
        identifiers=setup["identifiers"],
        item_tokens=item_token_ids(setup["vocabulary"], setup["identifiers"]),
        source_ids=setup["dataset"].items.source_ids,
        titles=setup["dataset"].items.field("title"),
        prompt=Prompt(all_families()["sequential"].by_id("sequential-1").inputs),
        **kw,
    )


def test_bundle_recommends_like_the_in_process_model(export_setup):
    from genrec.export import recommender as recommender_lib

    bundle = export_setup["bundle"]
    assert sorted(os.listdir(bundle)) == sorted(
        ["manifest.json", "params.npz", "spm.model", "semantic_ids", "trie.npz", "items.json"]
    )
    with open(os.path.join(bundle, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["step"] == 3 and manifest["template_id"] == "sequential-1"
    loaded = recommender_lib.load(bundle)
    reference = _in_process(export_setup)
    users = export_setup["dataset"].split("test")[:3]
    for user in users:
        history = [export_setup["dataset"].items.source_ids[i] for i in user.items[:-1]]
        got, want = loaded.recommend(history, top_k=5), reference.recommend(history, top_k=5)
        assert [r.item for r in got] == [r.item for r in want]
        np.testing.assert_allclose([r.score for r in got], [r.score for r in want], atol=1e-5)
        assert len(got) == 5 and not {r.item for r in got} & set(user.items[:-1].tolist())
        assert [r.title for r in got] == [export_setup["dataset"].items.title(r.item) for r in got]
        assert all(a.score >= b.score for a, b in zip(got, got[1:]))


def test_recommend_prompt_is_the_task_prompt(export_setup):
    """For a test user, the bundle's model input equals the seqio sequential task's input."""
    from genrec.export import recommender as recommender_lib

    rec = recommender_lib.load(export_setup["bundle"])
    example = eval_helpers.examples(f"genrec_{eval_helpers.DATASET}_sequential", limit=3)[2]
    tokens = rec.encode(example["history_items"].tolist(), user=f"user_{example['user_index']}")
    np.testing.assert_array_equal(tokens, example["inputs"])


def test_unknown_history_items_are_named(export_setup):
    from genrec.export import recommender as recommender_lib

    rec = recommender_lib.load(export_setup["bundle"])
    known = export_setup["dataset"].items.source_ids[0]
    with pytest.raises(ValueError, match="NOPE1, NOPE2"):
        rec.recommend([known, "NOPE1", "NOPE2"])
    assert rec.item_ids([known, 3]) == [0, 3]


def test_bundle_params_must_match_config(export_setup, tmp_path):
    from genrec.export import params_io
    from genrec.model.config import ModelConfig
    from genrec.model.network import EncoderDecoder
    from genrec.runtime.state import FunctionalModel

    with open(os.path.join(export_setup["bundle"], "manifest.json")) as f:
        manifest = json.load(f)
    bigger = ModelConfig.from_dict(dict(manifest["model_config"], d_model=32))
    shapes = FunctionalModel.from_factory(lambda rngs: EncoderDecoder(bigger, rngs=rngs)).param_shapes()
    with pytest.raises(ValueError, match="has shape"):
        params_io.read_params(
            os.path.join(export_setup["bundle"], "params.npz"), manifest["param_dtypes"], shapes
        )


def test_recommend_cli(export_setup, tmp_path, capsys):
    from genrec import main

    items = export_setup["dataset"].items.source_ids
    argv = main.rewrite_gin_args(
        [
            "genrec",
            "recommend",
            f"--bundle={export_setup['bundle']}",
            f"--history={items[3]},{items[5]}",
            "--top_k=4",
            f"--workdir={tmp_path}",
        ]
    )
    main.FLAGS.unparse_flags()
    main.FLAGS(argv)
    try:
        main.main(argv)
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].split("\t") == ["rank", "item", "score", "title"]
        rows = [line.split("\t") for line in lines[1:]]
        assert [r[0] for r in rows] == ["1", "2", "3", "4"]
        for row in rows:
            assert row[1] in items and row[1] not in (items[3], items[5])
            assert row[3] == export_setup["dataset"].items.title(items.index(row[1]))
        bad = main.rewrite_gin_args(
            [
                "genrec",
                "recommend",
                f"--bundle={export_setup['bundle']}",
                "--history=XYZ",
                f"--workdir={tmp_path}",
            ]
        )
        main.FLAGS.unparse_flags()
        main.FLAGS(bad)
        with pytest.raises(ValueError, match="unknown items in history: XYZ"):
            main.main(bad)
    finally:
        main.FLAGS.unparse_flags()


@pytest.mark.slow  # a fresh interpreter: ~45 s of imports and compiles
def test_recommend_console_command(export_setup, tmp_path):
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    items = export_setup["dataset"].items.source_ids
    cmd = [
        sys.executable,
        "-m",
        "genrec.main",
        "recommend",
        f"--bundle={export_setup['bundle']}",
        f"--history={items[1]},{items[2]}",
        "--top_k=3",
        f"--workdir={tmp_path}",
    ]
    env = dict(os.environ, PYTHONPATH=repo)
    out = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("\t") for line in out.stdout.strip().splitlines()[1:]]
    assert len(rows) == 3 and all(r[1] in items for r in rows)
    bad = subprocess.run(
        cmd[:5] + ["--history=NOT_AN_ITEM", f"--workdir={tmp_path}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode != 0 and "unknown items in history: NOT_AN_ITEM" in bad.stderr


def test_a_scanned_model_exports_and_recommends_like_the_unrolled_one(export_setup, tmp_path):
    import dataclasses

    from flax import nnx

    from genrec.export import recommender as recommender_lib
    from genrec.export.run import export_checkpoint
    from genrec.model import layer_stack
    from genrec.model.network import EncoderDecoder

    config = dataclasses.replace(export_setup["config"], scan_layers=True)
    scanned = EncoderDecoder(config, rngs=nnx.Rngs(1))
    unrolled_params = nnx.to_pure_dict(nnx.state(export_setup["model"], nnx.Param))
    nnx.update(scanned, layer_stack.stack_layer_params(unrolled_params))
    setup = dict(export_setup, config=config, model=scanned)
    ckpt = eval_helpers.save_checkpoint(setup, str(tmp_path / "checkpoints"))
    loaded = recommender_lib.load(export_checkpoint(ckpt, str(tmp_path / "bundle"), dataset=setup["dataset"]))
    reference = _in_process(export_setup)  # the unrolled model
    for user in export_setup["dataset"].split("test")[:3]:
        history = [export_setup["dataset"].items.source_ids[i] for i in user.items[:-1]]
        got, want = loaded.recommend(history, top_k=5), reference.recommend(history, top_k=5)
        assert [r.item for r in got] == [r.item for r in want]
        np.testing.assert_allclose([r.score for r in got], [r.score for r in want], atol=1e-5)
