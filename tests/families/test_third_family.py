"""A third model family defined only in this file (an item-ID, SASRec-style causal decoder), registered
with genrec.runtime.families and taken through data, train, eval, export and `genrec recommend` by
genrec.main, with no change to any file under genrec/."""

import dataclasses
import json
import os

import gin
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec import main as genrec_main
from genrec.evaluate import data_parallel, exact
from genrec.families import item_scorer
from genrec.model.config import ModelConfig
from genrec.model.layers import RelativePositionBias, RMSNorm, mask_to_bias, param, token_index
from genrec.model.network import EncoderLayer
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.tasks import item_sequences
from genrec.train import data

NAME = "item_id_test"


@dataclasses.dataclass(frozen=True)
class ItemIdConfig:
    num_items: int
    d_model: int = 16
    max_len: int = 10

    def layers(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.num_items + 1,
            d_model=self.d_model,
            num_heads=2,
            head_dim=8,
            mlp_dim=32,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dropout_rate=0.0,
        )


class ItemIdDecoder(nnx.Module):
    """One embedding per item (token i + 1), one causal T5 block, logits against the same table."""

    TARGETS = ("decoder_target_tokens", "decoder_loss_weights")

    def __init__(self, config: ItemIdConfig, *, rngs: nnx.Rngs):
        self.config = config
        layers = config.layers()
        self.items = param(
            rngs, nnx.initializers.normal(1.0), (config.num_items + 1, config.d_model), ("vocab", "embed")
        )
        self.relpos = RelativePositionBias(layers, bidirectional=False, rngs=rngs)
        self.layer = EncoderLayer(layers, rngs=rngs)
        self.norm = RMSNorm(layers, rngs=rngs)

    def hidden(self, tokens):
        length = tokens.shape[1]
        index = token_index(length)
        causal = jnp.tril(jnp.ones((length, length), bool))[None]
        x = jnp.take(self.items[...], tokens, axis=0)
        return self.norm(self.layer(x, self.relpos(index, index) + mask_to_bias(causal)))

    def __call__(self, batch, *, deterministic=True):
        return self.hidden(batch["decoder_input_tokens"]) @ self.items[...].T  # [B, T, N + 1]


@nnx.jit
def _scores(model, tokens):
    """Left-padded histories → [B, N]: the last position's logits over the items (token 0 dropped)."""
    tokens = exact.bos_first(tokens)
    last = (tokens > 0).sum(axis=1)
    h = jnp.take_along_axis(model.hidden(tokens), last[:, None, None], axis=1)[:, 0]
    return h @ model.items[...][1:].T


class ItemIdFamily(item_scorer.ItemScorerFamily):
    name = NAME

    def config_from_dict(self, d):
        return ItemIdConfig(**d)

    def build(self, config, *, rngs, catalogue=None):
        return ItemIdDecoder(config, rngs=rngs)

    def scorer(self, model, identifiers):
        return data_parallel.Bound(_scores, (model,))

    def history_length(self, model):
        return model.config.max_len

    def training_plan(self, inputs):
        config = inputs.model_config or ItemIdConfig(num_items=inputs.dataset.num_items)
        task = item_sequences.register(inputs.dataset, config.max_len + 1)
        lengths = {"targets": config.max_len + 1}
        converter = item_sequences.ItemSequenceConverter(inputs.identifiers.codes, pack=False)
        batch = partitioning.batch_size_per_process(inputs.loop.batch_size, inputs.mesh)
        meta = CheckpointMeta(
            model=self.name,
            model_config=dataclasses.asdict(config),
            dataset=inputs.dataset.name,
            identifiers_dir=os.path.abspath(inputs.identifiers_dir),
            identifier_scheme=inputs.identifiers.scheme,
            task=task,
            pack=False,
            task_feature_lengths=lengths,
            batch_size=inputs.loop.batch_size,
        )
        return families.TrainingPlan(
            config=config,
            factory=self.factory(config),
            meta=meta,
            flops_per_step=0.0,
            batch_source=lambda start: data.batches(
                task, lengths, batch, start_step=start, seed=0, converter=converter
            ),
        )


@pytest.fixture
def registered():
    families.register(ItemIdFamily())
    yield
    families.unregister(NAME)


def _run(mode: str, workdir, *extra: str, bindings=()):
    """One `genrec` command in this process, as the console script runs it."""
    command = ["recommend"] if mode == "recommend" else [f"--run_mode={mode}"]
    argv = genrec_main.rewrite_gin_args(
        ["genrec", *command, f"--workdir={workdir}", f"--data_dir={workdir}/../tfds", *extra, *bindings]
    )
    gin.clear_config()
    genrec_main.FLAGS.unparse_flags()
    genrec_main.FLAGS(argv)
    try:
        genrec_main.main(argv)
    finally:
        genrec_main.FLAGS.unparse_flags()
        gin.clear_config()


def test_a_family_defined_outside_genrec_trains_evaluates_exports_and_recommends(
    registered, tmp_path, capsys
):
    workdir = tmp_path / "run"
    bindings = [
        "--gin.load_dataset.name='synthetic'",
        f"--gin.train.model='{NAME}'",
        "--gin.LoopConfig.num_steps=30",
        "--gin.LoopConfig.batch_size=16",
        "--gin.LoopConfig.checkpoint_every=30",
        "--gin.LoopConfig.log_every=10",
        "--gin.LoopConfig.async_checkpoints=False",
        "--gin.make_optimizer.learning_rate=0.01",
    ]
    _run("data", workdir, bindings=bindings)
    _run("train", workdir, bindings=bindings)
    step, meta = checkpoints.read_meta(str(workdir / "checkpoints"))
    num_items = meta.model_config["num_items"]
    assert step == 30 and meta.model == NAME and num_items > 900

    _run("eval", workdir, bindings=["--gin.load_dataset.name='synthetic'"])
    with open(workdir / "eval" / "results.json") as f:
        results = json.load(f)
    assert (
        results["run"]["model"] == NAME
        and results["run"]["ranking"] == f"exact: all {num_items} items scored"
    )
    ours, floor = results["metrics"][meta.task], results["metrics"]["most_popular (same users)"]
    assert ours["examples"] == floor["examples"] == results["run"]["users"] > 1000
    assert 0.0 <= ours["ndcg@10"] <= 1.0 and ours["ndcg@10"] != floor["ndcg@10"]

    bundle = tmp_path / "bundle"
    _run("export", workdir, f"--bundle={bundle}", bindings=["--gin.load_dataset.name='synthetic'"])
    with open(bundle / "manifest.json") as f:
        assert json.load(f)["model"] == NAME
    with open(bundle / "items.json") as f:
        source_ids = json.load(f)["source_ids"]
    capsys.readouterr()
    _run(
        "recommend",
        tmp_path / "serve",
        f"--bundle={bundle}",
        f"--history={source_ids[4]},{source_ids[9]}",
        "--top_k=3",
    )
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert rows[0] == ["rank", "item", "score", "title"] and [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert all(r[1] in source_ids and r[1] not in (source_ids[4], source_ids[9]) for r in rows[1:])

    # the served top item is the model's own arg-max over the catalogue (history dropped)
    model, _ = checkpoints.load_for_inference(str(workdir / "checkpoints"))
    tokens = np.zeros((1, 10), np.int32)
    tokens[0, -2:] = [5, 10]
    scores = np.array(_scores(model, jnp.asarray(tokens)))[0]
    scores[[4, 9]] = -np.inf
    assert source_ids[int(np.argmax(scores))] == rows[1][1]


def test_an_unknown_family_name_is_an_error_listing_the_registered_ones():
    with pytest.raises(
        ValueError, match="unknown model family 'nope'; registered: encoder_decoder, parallel_ids"
    ):
        families.get("nope")
