"""The train run mode end to end on a small synthetic dataset: seqio tasks → packed batches → loop;
plus the data position (skip to step × batch) of the deterministic input pipeline."""

import json
import os

import jax
import numpy as np
import pytest
from tiny_run import tiny_sequential_config

from genrec.runtime import checkpoints, families, partitioning
from genrec.train import data, packing, run, trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from genrec.datasets import synthetic

    workdir = tmp_path_factory.mktemp("run")
    dataset = synthetic.generate(num_items=40, num_users=64, seed=0, name="synthetic-train-run")
    loop = trainer.LoopConfig(num_steps=40, batch_size=16, log_every=10, checkpoint_every=20)
    with tiny_sequential_config():
        one_device = partitioning.make_mesh(devices=jax.devices()[:1])  # cheapest compile
        state, summary = run.train_family(
            families.get("encoder_decoder"), str(workdir), dataset, loop, mesh=one_device
        )
        yield workdir, summary, dataset


def test_run_mode_trains_and_writes_the_shared_contract(trained):
    workdir, summary, dataset = trained
    assert summary["steps"] == 40 and summary["final_loss"] < 3.0  # from ~ln(vocab) ≈ 6 at init
    assert summary["examples_per_s"] > 0 and summary["flops_per_step"] > 0
    assert json.load(open(workdir / "train_summary.json"))["steps"] == 40
    _, meta = checkpoints.read_meta(str(workdir / "checkpoints"))
    assert meta.step == 40 and meta.dataset == "synthetic-train-run"
    assert meta.mixture.endswith("_sequential_mix")
    assert meta.task_feature_lengths == {"inputs": 48, "targets": 4}
    assert os.path.exists(meta.vocabulary) and meta.identifier_scheme == "atomic"
    from genrec.semantic_ids.artifact import Identifiers

    assert Identifiers.load(meta.identifiers_dir).num_items == dataset.num_items
    model, meta = checkpoints.load_for_inference(str(workdir / "checkpoints"))
    assert model.embed.embedding.shape[0] == meta.model_config["vocab_size"]


def test_batches_resume_at_the_same_position(trained):
    workdir, summary, dataset = trained
    _, meta = checkpoints.read_meta(str(workdir / "checkpoints"))
    lengths = meta.task_feature_lengths  # what the run trained with
    first = data.batches(meta.mixture, lengths, 4, seed=0)
    stream = [next(first) for _ in range(3)]
    resumed = next(data.batches(meta.mixture, lengths, 4, seed=0, start_step=2))
    assert set(resumed) == set(stream[2])
    for k in resumed:
        np.testing.assert_array_equal(resumed[k], stream[2][k])
    assert not np.array_equal(stream[0]["encoder_input_tokens"], stream[2]["encoder_input_tokens"])
    assert "decoder_segment_ids" in resumed  # packed
    assert trainer.count_examples(resumed) >= 4


def test_the_run_reports_how_full_its_first_packed_batch_is(trained):
    workdir, summary, _ = trained
    _, meta = checkpoints.read_meta(str(workdir / "checkpoints"))
    first = next(data.batches(meta.mixture, meta.task_feature_lengths, 16, seed=0))
    assert summary["first_batch_fill"] == packing.fill(first)
    fill = summary["first_batch_fill"]
    assert fill["examples_per_row"] >= 1.0 and 0.0 < fill["inputs_fill"] <= 1.0
    assert fill["examples_per_row"] * 16 == trainer.count_examples(first)


@pytest.mark.parametrize("scheme, falls_back", [("rqvae_scheme", False), ("atomic_scheme", True)])
def test_a_configured_scheme_without_built_ids_is_an_error_not_atomic_ids(tmp_path, scheme, falls_back):
    import genrec.semantic_ids.run  # noqa: F401 - registers build_ids and the schemes
    from genrec.datasets import synthetic

    dataset = synthetic.generate(num_items=20, num_users=10, seed=0, name="synthetic-no-ids")
    with tiny_sequential_config(f"build_ids.scheme = @{scheme}\n"):
        assert run.configured_scheme() == scheme
        if falls_back:
            ids, path = run.identifiers_for(str(tmp_path), dataset)
            assert ids.scheme == "atomic" and path.endswith("atomic_ids")
        else:
            with pytest.raises(FileNotFoundError, match="run --run_mode=build_ids"):
                run.identifiers_for(str(tmp_path), dataset)
            assert not (tmp_path / "atomic_ids").exists()
    assert run.configured_scheme() is None  # the context cleared the binding
