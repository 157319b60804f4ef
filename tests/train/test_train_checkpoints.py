"""The loop with orbax checkpoints: exact resume after a kill, SIGTERM save, keep-K, corrupt latest
skipped, restore into another mesh, NaN stops without saving, load_for_inference."""

import dataclasses
import functools
import json
import logging
import os
import shutil
import signal

import jax
import numpy as np
import pytest
from train_helpers import factory_for, random_source, standard_setup

from genrec.runtime import checkpoints, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.train import optimizers, trainer

NUM_STEPS = 6


def _train(workdir, *, source=None, mesh=None, num_steps=NUM_STEPS, model_overrides=None, optimizer=None):
    factory, tx, config = standard_setup()
    if optimizer:
        tx = optimizers.make_optimizer(10, name=optimizer, learning_rate=1e-2, warmup_steps=1)
    if model_overrides:
        config = dataclasses.replace(config, **model_overrides)
        factory = factory_for(config)
    loop = trainer.LoopConfig(
        num_steps=num_steps, batch_size=8, log_every=3, checkpoint_every=2, keep_checkpoints=2
    )
    meta = CheckpointMeta(
        model="encoder_decoder",
        model_config=config.to_dict(),
        dataset="random",
        mixture="none",
        task_feature_lengths={"inputs": 10, "targets": 5},
    )
    return trainer.train_loop(
        factory=factory,
        tx=tx,
        batch_source=source or random_source(),
        mesh=mesh or partitioning.make_mesh(data=2, fsdp=2, tensor=2),
        workdir=str(workdir),
        config=loop,
        meta=meta,
        flops_per_step=1e6,
    )


def _assert_same_params(a, b, exact=True):
    check = (
        np.testing.assert_array_equal
        if exact
        else (lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6))
    )
    jax.tree.map(lambda x, y: check(np.asarray(x), np.asarray(y)), a, b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    state, summary = _train(workdir)
    return workdir, jax.device_get(state["params"]), summary


class Killed(RuntimeError):
    pass


def test_run_writes_summary_model_info_curve_and_keeps_last_k(uninterrupted):
    workdir, params, summary = uninterrupted
    assert summary["steps"] == NUM_STEPS and summary["preempted"] is False
    assert np.isfinite(summary["final_loss"]) and summary["total_flops"] == NUM_STEPS * 1e6
    on_disk = json.load(open(workdir / "train_summary.json"))
    for key in (
        "steps",
        "wall_s",
        "examples_per_s",
        "flops_per_step",
        "total_flops",
        "num_params",
        "device_kind",
        "num_devices",
        "final_loss",
    ):
        assert key in on_disk, key
    assert on_disk["num_params"] == sum(np.size(x) for x in jax.tree.leaves(params))
    info = (workdir / "model-info.txt").read_text()
    assert "embed/embedding" in info and "('vocab', 'embed')" in info and "P('tensor', 'fsdp')" in info
    assert (workdir / "loss_curve.png").stat().st_size > 1000
    assert os.listdir(workdir / "tensorboard")
    assert checkpoints.Checkpointer(str(workdir / "checkpoints")).all_steps() == [4, 6]  # keep=2


def test_killed_run_resumes_to_exactly_the_uninterrupted_parameters(uninterrupted, tmp_path):
    starts = []

    def kill_at_5(step):
        starts.append(step)
        if step == 5:
            raise Killed("simulated crash after step 5")

    with pytest.raises(Killed):
        _train(tmp_path, source=random_source(hook=kill_at_5))
    assert checkpoints.Checkpointer(str(tmp_path / "checkpoints")).all_steps() == [2, 4]
    starts.clear()
    state, summary = _train(tmp_path, source=random_source(hook=starts.append))
    assert starts[0] == 4  # data position: the resumed stream starts at batch 4
    assert summary["steps"] == NUM_STEPS
    _assert_same_params(jax.device_get(state["params"]), uninterrupted[1])


def test_sigterm_saves_and_stops_then_resumes_exactly(uninterrupted, tmp_path):
    def sigterm_at_2(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    _, summary = _train(tmp_path, source=random_source(hook=sigterm_at_2))
    assert summary["preempted"] is True and summary["steps"] == 3  # the step in flight finishes, then saves
    assert 3 in checkpoints.Checkpointer(str(tmp_path / "checkpoints")).all_steps()
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler) or not isinstance(
        signal.getsignal(signal.SIGTERM), type(sigterm_at_2)
    )
    state, summary = _train(tmp_path)
    _assert_same_params(jax.device_get(state["params"]), uninterrupted[1])


def test_corrupt_latest_checkpoint_is_skipped_with_a_warning(uninterrupted, tmp_path, caplog):
    workdir = tmp_path / "run"
    shutil.copytree(uninterrupted[0], workdir)
    state_dir = workdir / "checkpoints" / "6" / "state"
    for root, _, files in os.walk(state_dir):  # truncate every data file of the newest checkpoint
        for name in files:
            open(os.path.join(root, name), "wb").close()
    with caplog.at_level(logging.WARNING):
        state, summary = _train(workdir)
    assert any("unusable" in r.getMessage() and "/6" in r.getMessage() for r in caplog.records)
    assert os.listdir(str(workdir / "checkpoints") + ".corrupt")  # set aside, not deleted
    assert summary["steps"] == NUM_STEPS  # resumed from 4, trained 5 and 6 again
    _assert_same_params(jax.device_get(state["params"]), uninterrupted[1])


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"scan_layers": True},
            r"(?s)first ones:\n  params/decoder_layers/0/.*: in the checkpoint.*checkpoint is unrolled, "
            r"so resume with --gin.ModelConfig.scan_layers=False",
        ),
        (
            {"mlp_dim": 48},
            r"params/encoder_layers/0/mlp/wo: checkpoint shape \(32, 16\), this run \(48, 16\)",
        ),
    ],
)
def test_a_checkpoint_of_another_model_is_refused_and_kept(uninterrupted, tmp_path, change, expected):
    workdir = tmp_path / "run"
    shutil.copytree(uninterrupted[0], workdir)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=expected):
        _train(workdir, model_overrides=change)
    assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "6"]  # nothing set aside or overwritten
    assert not os.path.exists(str(workdir / "checkpoints") + ".corrupt")


@pytest.mark.slow  # ~40 s; the adamw layout conversion below resumes a scanned run by default
def test_scanned_layers_resume_exactly(tmp_path):
    scanned = {"scan_layers": True, "num_encoder_layers": 2, "num_decoder_layers": 2}
    state, _ = _train(tmp_path / "straight", model_overrides=scanned)
    _train(tmp_path / "resumed", model_overrides=scanned, num_steps=4)
    resumed, summary = _train(tmp_path / "resumed", model_overrides=scanned)
    assert summary["steps"] == NUM_STEPS
    assert resumed["params"]["encoder_layers"]["mlp"]["wo"].shape[0] == 2  # stacked
    _assert_same_params(jax.device_get(resumed["params"]), jax.device_get(state["params"]))


@pytest.mark.parametrize(
    "optimizer, sizes",
    [
        ("adamw", {}),
        # >= 128: factored statistics and placeholders (~35 s: the slow pass)
        pytest.param("adafactor", {"d_model": 128, "mlp_dim": 256}, marks=pytest.mark.slow),
    ],
)
def test_convert_layout_resumes_like_the_unrolled_run(tmp_path, optimizer, sizes):
    from genrec.model import layer_stack
    from genrec.train import convert_layout

    plain = {"dropout_rate": 0.0, **sizes}  # the layouts draw different dropout masks: none here
    train = functools.partial(_train, optimizer=optimizer)
    train(tmp_path / "unrolled", model_overrides=plain, num_steps=4)
    step, scanned = convert_layout.convert_checkpoint(
        str(tmp_path / "unrolled" / "checkpoints"), str(tmp_path / "scanned" / "checkpoints")
    )
    assert (step, scanned) == (4, True)
    _, meta = checkpoints.read_meta(str(tmp_path / "scanned" / "checkpoints"))
    assert meta.model_config["scan_layers"] is True
    with pytest.raises(FileExistsError, match="already holds checkpoints"):
        convert_layout.convert_checkpoint(
            str(tmp_path / "unrolled" / "checkpoints"), str(tmp_path / "scanned" / "checkpoints")
        )
    unrolled, _ = train(tmp_path / "unrolled", model_overrides=plain)  # steps 5, 6 in each layout
    resumed, summary = train(tmp_path / "scanned", model_overrides=dict(plain, scan_layers=True))
    assert summary["steps"] == NUM_STEPS and summary["final_loss"] is not None
    _assert_same_params(
        layer_stack.unstack_layer_params(jax.device_get(resumed["params"])),
        jax.device_get(unrolled["params"]),
        exact=False,
    )
    # And back: the scanned checkpoint converts to one the unrolled run resumes from.
    convert_layout.convert_checkpoint(
        str(tmp_path / "scanned" / "checkpoints"), str(tmp_path / "back" / "checkpoints")
    )
    back, summary = train(tmp_path / "back", model_overrides=plain, num_steps=NUM_STEPS)
    assert summary["steps"] == NUM_STEPS  # nothing left to train: restored as is
    _assert_same_params(
        jax.device_get(back["params"]), layer_stack.unstack_layer_params(jax.device_get(resumed["params"]))
    )


def test_restore_into_a_different_mesh(uninterrupted, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(uninterrupted[0], workdir)
    shutil.rmtree(workdir / "checkpoints" / "6")
    one = partitioning.make_mesh(data=1, fsdp=1, tensor=1, devices=jax.devices()[:1])
    state, summary = _train(workdir, mesh=one)  # saved on (2, 2, 2), resumed on 1 device
    emb = state["params"]["embed"]["embedding"]
    assert emb.sharding.mesh.size == 1 and len(emb.addressable_shards) == 1
    _assert_same_params(jax.device_get(state["params"]), uninterrupted[1], exact=False)


def test_nan_loss_stops_without_overwriting_the_last_good_checkpoint(tmp_path):
    with pytest.raises(trainer.NonFiniteLossError, match="step 3.*last good checkpoint: step 2"):
        _train(tmp_path, source=random_source(poison={2}))  # batch 2 → step 3 is NaN (logged at step 3)
    ckpt = checkpoints.Checkpointer(str(tmp_path / "checkpoints"))
    assert ckpt.all_steps() == [2]
    _, meta = checkpoints.read_meta(str(tmp_path / "checkpoints"))
    assert meta.step == 2


def test_load_for_inference_returns_the_trained_model(uninterrupted):
    workdir, params, _ = uninterrupted
    model, meta = checkpoints.load_for_inference(str(workdir / "checkpoints"))
    assert meta.step == NUM_STEPS and meta.model_config["d_model"] == 16
    assert meta.task_feature_lengths == {"inputs": 10, "targets": 5}
    from flax import nnx

    _assert_same_params(nnx.to_pure_dict(nnx.state(model, nnx.Param)), params)
    assert not [k for k in meta.to_dict() if k.startswith("opt")]  # parameters only, no optimizer state
