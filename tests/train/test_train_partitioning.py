"""Mesh construction, the logical-axis rule table, golden parameter PartitionSpecs, batch assembly."""

import os

import gin
import jax
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P
from train_helpers import factory_for, tiny_config

from genrec.runtime import partitioning
from genrec.runtime import state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_mesh_fills_the_rest_and_rejects_bad_shapes():
    mesh = partitioning.make_mesh(data=-1, fsdp=2, tensor=1)
    assert dict(mesh.shape) == {"data": 4, "fsdp": 2, "tensor": 1}
    assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)
    assert dict(partitioning.make_mesh(data=2, fsdp=2, tensor=2).shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    with pytest.raises(ValueError, match="at most one axis may be -1"):
        partitioning.make_mesh(data=-1, fsdp=-1)
    with pytest.raises(ValueError, match="do not divide"):
        partitioning.make_mesh(data=-1, fsdp=3)
    with pytest.raises(ValueError, match="needs 4 devices"):
        partitioning.make_mesh(data=2, fsdp=2, tensor=1)


@pytest.mark.parametrize("name, shape", [("dp", (8, 1, 1)), ("fsdp", (1, 8, 1)), ("fsdp_tp", (1, 4, 2))])
def test_partitioning_gin_files(name, shape):
    gin.parse_config_file(os.path.join(REPO, "configs", "partitioning", f"{name}.gin"))
    assert tuple(partitioning.make_mesh().shape.values()) == shape


def test_logical_to_spec_hand_examples():
    mesh = partitioning.make_mesh(data=2, fsdp=2, tensor=2)
    assert partitioning.logical_to_spec(("embed", "mlp"), (16, 32), mesh) == P("fsdp", "tensor")
    assert partitioning.logical_to_spec(("vocab", "embed"), (48, 16), mesh) == P("tensor", "fsdp")
    # 'heads' and 'mlp' both want 'tensor': a mesh axis is used once per spec (first dim wins).
    assert partitioning.logical_to_spec(("heads", "mlp"), (2, 32), mesh) == P("tensor")
    # 'batch' spans two mesh axes.
    assert partitioning.logical_to_spec(("batch", "length"), (8, 5), mesh) == P(("data", "fsdp"))
    # Not divisible by the tensor axis (3 % 2): replicated rather than an error.
    assert partitioning.logical_to_spec(("heads", "kv"), (3, 8), mesh) == P()
    assert partitioning.logical_to_spec(None, (4,), mesh) == P()
    with pytest.raises(ValueError, match="no rule"):
        partitioning.logical_to_spec(("nonsense",), (4,), mesh, name="w")
    with pytest.raises(ValueError, match="w: logical axes"):
        partitioning.logical_to_spec(("embed",), (4, 4), mesh, name="w")
    # Axes of size 1 are left out: on a pure data-parallel mesh everything is replicated.
    dp = partitioning.make_mesh(data=-1)
    assert partitioning.logical_to_spec(("vocab", "embed"), (48, 16), dp) == P()


def test_golden_parameter_specs_of_the_model():
    model = state_lib.FunctionalModel.from_factory(factory_for(tiny_config()))
    specs = partitioning.param_specs(model.abstract_params, partitioning.make_mesh(data=2, fsdp=2, tensor=2))
    assert specs["embed"]["embedding"] == P("tensor", "fsdp")  # [vocab, embed]
    assert specs["output"]["kernel"] == P("fsdp", "tensor")  # [embed, vocab]
    enc = specs["encoder_layers"][0]
    assert enc["attention"]["query"] == P("fsdp", "tensor")  # [embed, heads, kv]
    assert enc["attention"]["out"] == P("tensor", None, "fsdp")  # [heads, kv, embed]
    assert enc["mlp"]["wi"][0] == P("fsdp", "tensor")  # [embed, mlp]
    assert enc["mlp"]["wo"] == P("tensor", "fsdp")  # [mlp, embed]
    assert enc["attention_norm"]["scale"] == P("fsdp")
    assert specs["encoder_relpos"]["embedding"] == P(None, "tensor")  # [buckets, heads]
    fsdp = partitioning.param_specs(model.abstract_params, partitioning.make_mesh(data=1, fsdp=-1))
    assert fsdp["embed"]["embedding"] == P(None, "fsdp")
    assert fsdp["encoder_layers"][0]["mlp"]["wo"] == P(None, "fsdp")
    dp = partitioning.param_specs(model.abstract_params, partitioning.make_mesh(data=-1))
    assert set(jax.tree.leaves(dp, is_leaf=lambda x: isinstance(x, P))) == {P()}


def test_golden_specs_of_scanned_layers_replicate_the_layer_axis():
    model = state_lib.FunctionalModel.from_factory(
        factory_for(tiny_config(num_encoder_layers=3, scan_layers=True))
    )
    specs = partitioning.param_specs(model.abstract_params, partitioning.make_mesh(data=2, fsdp=2, tensor=2))
    enc = specs["encoder_layers"]  # one stacked module: [layers, ...] per parameter
    assert enc["attention"]["query"] == P(None, "fsdp", "tensor")  # [layers, embed, heads, kv]
    assert enc["mlp"]["wo"] == P(None, "tensor", "fsdp")  # [layers, mlp, embed]
    assert enc["attention_norm"]["scale"] == P(None, "fsdp")
    assert specs["decoder_layers"]["cross_attention"]["out"] == P(None, "tensor", None, "fsdp")


def test_optimizer_state_specs_follow_params_and_replicate_the_rest():
    params = {"w": jax.ShapeDtypeStruct((16, 32), np.float32), "b": jax.ShapeDtypeStruct((32,), np.float32)}
    specs = {"w": P("fsdp", "tensor"), "b": P("tensor")}
    adam = jax.eval_shape(optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3)).init, params)
    got = partitioning.optimizer_specs(adam, params, specs)
    mu = got[1][0].mu
    assert mu == specs and got[1][0].nu == specs and got[1][0].count == P()
    ada = jax.eval_shape(optax.adafactor(1e-3).init, params)
    flat = jax.tree_util.tree_flatten_with_path(ada)[0]
    got = dict(
        jax.tree_util.tree_flatten_with_path(
            partitioning.optimizer_specs(ada, params, specs), is_leaf=lambda x: isinstance(x, P)
        )[0]
    )
    for path, leaf in flat:  # factored statistics have other shapes: replicated
        if leaf.shape != (16, 32) and leaf.shape != (32,):
            assert got[path] == P(), path


def test_global_batch_is_sharded_over_data_and_fsdp():
    mesh = partitioning.make_mesh(data=2, fsdp=2, tensor=2)
    local = {"x": np.arange(8 * 3).reshape(8, 3)}
    out = partitioning.global_batch(local, mesh)["x"]
    assert out.sharding.spec == P(("data", "fsdp"))
    np.testing.assert_array_equal(np.asarray(out), local["x"])
    assert {s.data.shape for s in out.addressable_shards} == {(2, 3)}
    with pytest.raises(ValueError, match="not divisible by the 4 batch shards"):
        partitioning.batch_size_per_process(6, mesh)
