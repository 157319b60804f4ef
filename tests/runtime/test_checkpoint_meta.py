"""The typed checkpoint meta: version-0 checkpoints and bundles (written by genrec before
CheckpointMeta and model families, checked in under data/fixtures/legacy) still load and serve."""

import json
import os
import shutil

import numpy as np
import pytest

from genrec.export import recommender as recommender_lib
from genrec.model.config import BlockConfig
from genrec.model.parallel_ids import ParallelIdConfig
from genrec.runtime import checkpoints, families
from genrec.runtime.meta import META_VERSION, CheckpointMeta

LEGACY = os.path.join(os.path.dirname(__file__), "..", "..", "data", "fixtures", "legacy")


def test_a_version_0_encoder_decoder_meta_reads_as_the_encoder_decoder():
    with open(os.path.join(LEGACY, "encoder_decoder_meta_v0.json")) as f:
        raw = json.load(f)
    assert "model" not in raw and "meta_version" not in raw
    meta = CheckpointMeta.from_dict(raw)
    assert meta.model == "encoder_decoder" and families.for_meta(meta).name == "encoder_decoder"
    assert meta.mixture == raw["mixture"] and meta.task_feature_lengths == {"inputs": 64, "targets": 8}
    assert meta.step == 100 and meta.meta_version == META_VERSION


def test_unknown_keys_survive_a_round_trip_and_a_newer_version_is_refused():
    meta = CheckpointMeta.from_dict(
        {"model": "parallel_ids", "model_config": {"d_model": 8}, "custom": [1, 2]}
    )
    assert meta.extra == {"custom": [1, 2]}
    assert CheckpointMeta.from_dict(meta.to_dict()) == meta
    with pytest.raises(ValueError, match="meta_version 99 is newer"):
        CheckpointMeta.from_dict(dict(meta.to_dict(), meta_version=99), where="ckpt/3/meta")
    with pytest.raises(ValueError, match="somewhere: no 'model_config'"):
        CheckpointMeta.from_dict({"model": "parallel_ids"}, where="somewhere")


def test_a_version_0_parallel_digit_checkpoint_restores_with_its_family(tmp_path):
    directory = shutil.copytree(os.path.join(LEGACY, "checkpoints"), tmp_path / "checkpoints")
    step, meta = checkpoints.read_meta(str(directory))
    assert step == 7 and meta.model == "parallel_ids" and meta.task == "genrec_legacy_item_sequences"
    model, meta = checkpoints.load_for_inference(str(directory))
    assert meta.step == 7 and model.config.level_sizes == (4, 3) and model.config.block.d_model == 8


def test_a_version_0_bundle_serves_the_scores_it_was_written_with(tmp_path):
    bundle = shutil.copytree(os.path.join(LEGACY, "bundle"), tmp_path / "bundle")
    with open(os.path.join(bundle, "manifest.json")) as f:
        assert "meta_version" not in json.load(f)
    rec = recommender_lib.load(str(bundle))
    got = rec.recommend(["L001", "L004"], top_k=12, drop_history=False)
    expected = np.load(os.path.join(LEGACY, "expected_scores_history_1_4.npy"))
    assert [r.item for r in got] == sorted(range(12), key=lambda i: (-expected[i], i))
    np.testing.assert_allclose([r.score for r in got], sorted(expected, reverse=True), rtol=1e-5, atol=1e-5)


def test_a_flat_parallel_digit_model_config_and_the_nested_one_give_equal_configs():
    """Checkpoints and bundles written before BlockConfig keep the block's fields at the top of the
    model config (the legacy bundle's); they read as the nested form, the one written now."""
    with open(os.path.join(LEGACY, "bundle", "manifest.json")) as f:
        flat = json.load(f)["model_config"]
    block = {
        "d_model": 8,
        "num_heads": 2,
        "head_dim": 4,
        "mlp_dim": 16,
        "mlp_activations": ["gelu"],
        "dropout_rate": 0.0,
        "relative_attention_num_buckets": 4,
        "relative_attention_max_distance": 8,
        "dtype": "float32",
        "dropout_rng_impl": "hash",
    }
    assert "block" not in flat and {k: flat[k] for k in block} == block  # the fixture is the old form
    nested = dict({k: v for k, v in flat.items() if k not in block}, block=block)
    family = families.get("parallel_ids")
    old, new = family.config_from_dict(flat), family.config_from_dict(nested)
    assert old == new and old.block == BlockConfig(**dict(block, mlp_activations=("gelu",)))
    assert (old.num_layers, old.max_len, old.level_sizes) == (1, 6, (4, 3))
    written = json.loads(json.dumps(new.to_dict()))  # what a checkpoint's meta stores now
    assert written["block"] == block and not set(block) & set(written)
    assert ParallelIdConfig.from_dict(written) == new
    with pytest.raises(ValueError, match=r"both 'block' and block fields \['d_model'\]"):
        family.config_from_dict(dict(nested, d_model=8))
