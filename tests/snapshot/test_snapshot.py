"""Array snapshots: the .npz codec, seqio-equivalent features, the resumable batch stream, and a
snapshot trained and evaluated in a process where TensorFlow and seqio cannot be imported."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_run import tiny_sequential_config

from genrec.snapshot import arrays

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXTRA_BINDINGS = """
LoopConfig.batch_size = 16
LoopConfig.num_steps = 30
LoopConfig.log_every = 10
LoopConfig.checkpoint_every = 15
genrec.evaluate.EvalConfig.beam_size = 5
genrec.evaluate.EvalConfig.top_k = 5
"""

# Run as `python -c`: hides TensorFlow, seqio and TFDS from the import system, then runs the module.
NO_TF = """
import importlib.machinery as m, runpy, sys
find = m.PathFinder.find_spec.__func__
def hide(cls, name, path=None, target=None):
    if name.split('.')[0] in ('tensorflow', 'seqio', 'tensorflow_datasets'):
        return None
    return find(cls, name, path, target)
m.PathFinder.find_spec = classmethod(hide)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
"""


def test_examples_round_trip_through_npz_without_pickle(tmp_path):
    examples = [
        {
            "inputs": np.array([5, 6, 7], np.int32),
            "history_items": np.array([], np.int32),
            "target_item": 3,
            "target_rating": 4.5,
            "template_id": b"seq-1",
        },
        {
            "inputs": np.array([9], np.int32),
            "history_items": np.array([1, 2], np.int32),
            "target_item": 0,
            "target_rating": 0.0,
            "template_id": b"seq-2",
        },
    ]
    path = str(tmp_path / "x.npz")
    arrays.save_examples(path, examples)
    back = arrays.load_examples(path)
    assert len(back) == 2
    for a, b in zip(examples, back):
        np.testing.assert_array_equal(a["inputs"], b["inputs"])
        np.testing.assert_array_equal(a["history_items"], b["history_items"])
        assert b["target_item"] == a["target_item"] and b["target_rating"] == a["target_rating"]
        assert str(b["template_id"]) == a["template_id"].decode()
    with np.load(path, allow_pickle=False) as f:  # loads with pickling refused
        assert "inputs.lengths" in f.files


def test_save_refuses_fields_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="'nested'"):
        arrays.save_examples(str(tmp_path / "x.npz"), [{"nested": {"a": 1}}])
    with pytest.raises(ValueError, match="no examples"):
        arrays.save_examples(str(tmp_path / "y.npz"), [])


def test_batches_are_a_pure_function_of_the_step_and_split_over_processes():
    features = {"x": np.arange(50)[:, None]}
    one = arrays.Batches(features, 8, seed=1)
    stream = one(0)
    first = [next(stream)["x"][:, 0] for _ in range(14)]  # crosses into the third epoch (6 per epoch)
    resumed = one(9)
    np.testing.assert_array_equal(next(resumed)["x"][:, 0], first[9])
    epoch = np.concatenate(first[:6])
    assert len(set(epoch.tolist())) == 48  # each example at most once per epoch, 2 left over
    assert not np.array_equal(first[0], first[6])  # a fresh permutation each epoch
    halves = [arrays.Batches(features, 8, seed=1, process_index=p, process_count=2)(4) for p in range(2)]
    np.testing.assert_array_equal(np.concatenate([next(h)["x"][:, 0] for h in halves]), first[4])
    with pytest.raises(ValueError, match="fewer than one batch"):
        arrays.Batches(features, 64)


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    from genrec.datasets import synthetic
    from genrec.snapshot import write

    workdir = tmp_path_factory.mktemp("snap")
    dataset = synthetic.generate(num_items=40, num_users=64, seed=0, name="synthetic-snapshot")
    with tiny_sequential_config(EXTRA_BINDINGS):
        yield write.write_snapshot(str(workdir), dataset, str(workdir / "snapshot"))


def test_features_equal_seqio_feature_converter(snapshot_dir):
    import seqio

    meta = json.load(open(os.path.join(snapshot_dir, "meta.json")))
    task = meta["train_tasks"][0]
    lengths = meta["task_feature_lengths"]
    columns = arrays.load_columns(os.path.join(snapshot_dir, "train", f"{task}.npz"))
    ours = arrays.encdec_features(columns["inputs"], columns["targets"], lengths)
    raw = seqio.get_mixture_or_task(task).get_dataset(lengths, split="train", shuffle=False)
    converted = list(seqio.EncDecFeatureConverter(pack=False)(raw, lengths).as_numpy_iterator())
    assert len(converted) == len(ours["encoder_input_tokens"]) == meta["counts"]["train"][task]
    for key in ours:
        np.testing.assert_array_equal(np.stack([c[key] for c in converted]), ours[key], err_msg=key)


def test_eval_examples_equal_what_the_eval_run_mode_reads(snapshot_dir):
    from genrec.evaluate import run as eval_run

    meta = json.load(open(os.path.join(snapshot_dir, "meta.json")))
    name = meta["eval_tasks"][0]
    ours = arrays.load_examples(os.path.join(snapshot_dir, "test", f"{name}.npz"))
    theirs = eval_run.task_examples(name, "test", meta["task_feature_lengths"], None)
    assert len(ours) == len(theirs) == 64
    for a, b in zip(ours, theirs):
        for key in ("inputs", "targets", "history_items"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert a["target_item"] == b["target_item"] and str(a["template_id"]) == b["template_id"].decode()


def test_snapshot_records_what_gin_resolved(snapshot_dir):
    meta = json.load(open(os.path.join(snapshot_dir, "meta.json")))
    assert meta["model_config"]["d_model"] == 16 and meta["optimizer"]["learning_rate"] == 0.01
    assert meta["loop"]["batch_size"] == 16 and meta["eval_config"]["beam_size"] == 5
    assert (
        meta["loop"]["keep_checkpoints"] == 3 and meta["optimizer"]["name"] == "adamw"
    )  # defaults, resolved
    assert meta["eval_tasks"] == [
        "genrec_synthetic_snapshot_sequential",
        "genrec_synthetic_snapshot_sequential_heldout",
    ]
    items = np.load(os.path.join(snapshot_dir, "item_tokens.npy"))
    assert items.shape[0] == 40 and len(np.unique(items, axis=0)) == 40
    for split in ("validation", "test"):
        assert meta["counts"][split]["genrec_synthetic_snapshot_sequential"] == 64


@pytest.mark.slow
def test_snapshot_trains_and_evaluates_without_tensorflow(snapshot_dir, tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    cmd = [
        sys.executable,
        "-c",
        NO_TF,
        "genrec.snapshot.run",
        f"--snapshot={snapshot_dir}",
        f"--workdir={tmp_path}",
        "--max_eval_examples=32",
    ]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.load(open(tmp_path / "train_summary.json"))
    assert summary["steps"] == 30 and summary["final_loss"] < 4.0
    results = json.load(open(tmp_path / "eval" / "results.json"))
    seq = results["metrics"]["genrec_synthetic_snapshot_sequential"]
    assert seq["examples"] == 32 and seq["invalid_rate"] == 0.0
    assert os.listdir(tmp_path / "tensorboard")
    # resuming with more steps continues from the checkpoint instead of starting over
    out = subprocess.run(
        cmd[:-1] + ["--num_steps=40", "--stage=train"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed from" in out.stderr
    resumed = json.load(open(tmp_path / "train_summary.json"))
    assert resumed["steps"] == 40
    assert resumed["cumulative_wall_s"] == pytest.approx(summary["wall_s"] + resumed["wall_s"])
