"""RQ-VAE (TIGER): MLP encoder → residual quantizer (L levels × K codes) → mirrored MLP decoder.

Pure-functional JAX so that the whole training loop is one jitted `lax.scan` per log chunk:
loss = reconstruction + Σ_l (‖sg(r_l) − e_l‖² + β‖r_l − sg(e_l)‖²), straight-through gradients.
Against codebook collapse: inputs are standardised, codebooks start from k-means on the initial
latents (level by level on residuals), and codes unused for `reset_every` steps are moved onto
residuals from the current batch, their Adam moments zeroed. No reset falls in the last
`reset_every` steps, so the final codes and their usage are what training produced, not codes
just placed on items. Same seed, same codes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from genrec.semantic_ids import inputs, kmeans


@dataclasses.dataclass(frozen=True)
class RQVAEConfig:
    hidden_dims: tuple[int, ...] = (512, 256, 128)
    latent_dim: int = 32
    num_levels: int = 3
    codebook_size: int = 256
    beta: float = 0.25  # commitment weight
    learning_rate: float = 1e-3
    batch_size: int = 256
    num_steps: int = 1000
    log_every: int = 100  # steps per jitted scan chunk (one progress/log line each)
    reset_every: int = 50  # move codes unused for this many steps; 0 disables
    reset_until: float = 1.0  # fraction of training with resets (never the last reset_every steps)
    kmeans_init: bool = True
    kmeans_iters: int = 20
    seed: int = 0

    def __post_init__(self):  # hashable (it is a static jit argument) even if given a list
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))


@dataclasses.dataclass
class RQVAEResult:
    params: dict
    standardizer: inputs.Standardizer
    codes: np.ndarray  # int32 [N, L]
    reconstruction_error: float  # mean squared error per dimension, standardised space
    history: list[dict]  # one entry per log chunk

    def candidates(self, embeddings: np.ndarray, count: int) -> np.ndarray:
        """int32 [N, count, L]: each row's codes under the frozen encoder and codebooks, the last
        level's nearest `count` codes."""
        z = encode(self.params, jnp.asarray(self.standardizer(np.asarray(embeddings, np.float32))))
        codes, _, residuals = quantize(self.params["codebooks"], z)
        last = kmeans.squared_distances(residuals[-1], self.params["codebooks"][-1])
        return inputs.last_level_candidates(np.asarray(codes), np.asarray(last), count)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What `candidates` needs (the encoder MLP and codebooks; no decoder), as plain arrays."""
        out = {
            "codebooks": np.asarray(self.params["codebooks"]),
            **inputs.standardizer_arrays(self.standardizer),
        }
        for i, layer in enumerate(self.params["encoder"]):
            out[f"encoder_{i}_w"], out[f"encoder_{i}_b"] = np.asarray(layer["w"]), np.asarray(layer["b"])
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "RQVAEResult":
        layers = sum(1 for name in arrays if name.startswith("encoder_") and name.endswith("_w"))
        encoder = [
            {"w": jnp.asarray(arrays[f"encoder_{i}_w"]), "b": jnp.asarray(arrays[f"encoder_{i}_b"])}
            for i in range(layers)
        ]
        books = jnp.asarray(arrays["codebooks"])
        return cls(
            params={"encoder": encoder, "codebooks": books},
            standardizer=inputs.standardizer_from(arrays),
            codes=np.zeros((0, books.shape[0]), np.int32),
            reconstruction_error=float("nan"),
            history=[],
        )


# ----------------------------------------------------------------------------- network


def _mlp_init(key, dims):
    layers = []
    for k, (d_in, d_out) in zip(jax.random.split(key, len(dims) - 1), zip(dims[:-1], dims[1:])):
        layers.append({"w": jax.nn.initializers.he_normal()(k, (d_in, d_out)), "b": jnp.zeros(d_out)})
    return layers


def _mlp(layers, x):
    for i, layer in enumerate(layers):
        x = x @ layer["w"] + layer["b"]
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x


@functools.partial(jax.jit, static_argnames=("input_dim", "config"))
def init_params(key: jax.Array, input_dim: int, config: RQVAEConfig) -> dict:
    dims = (input_dim, *config.hidden_dims, config.latent_dim)
    k_enc, k_dec, k_cb = jax.random.split(key, 3)
    codebooks = jax.random.normal(k_cb, (config.num_levels, config.codebook_size, config.latent_dim))
    return {
        "encoder": _mlp_init(k_enc, dims),
        "decoder": _mlp_init(k_dec, dims[::-1]),
        "codebooks": codebooks,
    }


def encode(params: dict, x: jax.Array) -> jax.Array:
    return _mlp(params["encoder"], x)


def decode(params: dict, z: jax.Array) -> jax.Array:
    return _mlp(params["decoder"], z)


def quantize(codebooks: jax.Array, z: jax.Array):
    """Residual quantization of z [B, d] by codebooks [L, K, d].

    Returns (codes [B, L], quantized [L, B, d] (each level's chosen code vector),
    residuals [L, B, d] (what level l quantized)).
    """

    def level(residual, codebook):
        code = kmeans.assign(residual, codebook)
        q = codebook[code]
        return residual - q, (code, q, residual)

    _, (codes, quantized, residuals) = jax.lax.scan(level, z, codebooks)
    return codes.T, quantized, residuals


def loss_fn(params: dict, x: jax.Array, beta: float):
    z = encode(params, x)
    codes, quantized, residuals = quantize(params["codebooks"], z)
    sg = jax.lax.stop_gradient
    codebook = jnp.sum(jnp.mean((sg(residuals) - quantized) ** 2, axis=(1, 2)))
    commitment = jnp.sum(jnp.mean((residuals - sg(quantized)) ** 2, axis=(1, 2)))
    z_q = z + sg(quantized.sum(0) - z)  # straight-through estimator
    recon = jnp.mean((decode(params, z_q) - x) ** 2)
    total = recon + codebook + beta * commitment
    return total, {
        "loss": total,
        "recon": recon,
        "codebook": codebook,
        "commitment": commitment,
        "codes": codes,
        "residuals": residuals,
    }


# ----------------------------------------------------------------------------- training


def _kmeans_init(params, x, config, key):
    """Codebooks from k-means on the initial latents, level by level on the residuals."""
    residual = jax.jit(encode)(params, x)
    books = []
    for key_l in jax.random.split(key, config.num_levels):
        centers, a = kmeans.kmeans(residual, config.codebook_size, key_l, iters=config.kmeans_iters)
        books.append(centers)
        residual = residual - centers[a]
    return {**params, "codebooks": jnp.stack(books)}


def last_reset_step(config: RQVAEConfig) -> int:
    """Resets happen after steps reset_every, 2 * reset_every, ... up to this many steps: at most
    `reset_until` of training, and at least `reset_every` steps before the end."""
    return min(int(config.reset_until * config.num_steps), config.num_steps - config.reset_every)


def _revive(params, opt_state, dead, candidates, optimizer):
    """Moves the dead codes (mask [L, K]) onto `candidates` [L, K, d] and zeroes their optimizer
    moments, so a revived code does not carry the stale momentum of the code it replaces."""
    keep = ~dead[..., None]
    params = {**params, "codebooks": jnp.where(keep, params["codebooks"], candidates)}
    mask = {**jax.tree.map(lambda _: None, params), "codebooks": keep}  # None: leave the moments alone
    opt_state = optax.tree_utils.tree_map_params(
        optimizer, lambda v, k: v if k is None else jnp.where(k, v, 0), opt_state, mask
    )
    return params, opt_state


def _make_step(config: RQVAEConfig, x: jax.Array, optimizer):
    n = x.shape[0]
    batch = min(config.batch_size, n)
    k = config.codebook_size
    last_reset = last_reset_step(config)

    def step(state, _):
        params, opt_state, usage, step_no, key = state
        key, k_batch, k_reset = jax.random.split(key, 3)
        xb = x[jax.random.permutation(k_batch, n)[:batch]]
        grads, aux = jax.grad(loss_fn, has_aux=True)(params, xb, config.beta)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        counts = jax.vmap(lambda c: jnp.bincount(c, length=k))(aux["codes"].T)  # [L, K]
        usage = usage + counts
        if config.reset_every:
            do_reset = ((step_no + 1) % config.reset_every == 0) & (step_no < last_reset)
            dead = do_reset & (usage == 0)  # [L, K]
            # Distinct batch rows per level (where the batch is large enough).
            pick = jax.vmap(lambda kk: jax.random.choice(kk, batch, (k,), replace=batch < k))(
                jax.random.split(k_reset, config.num_levels)
            )
            candidates = jnp.take_along_axis(aux["residuals"], pick[..., None], axis=1)
            params, opt_state = _revive(params, opt_state, dead, candidates, optimizer)
            usage = jnp.where(do_reset, 0, usage)
        else:
            dead = jnp.zeros_like(usage, bool)
        metrics = {m: aux[m] for m in ("loss", "recon", "codebook", "commitment")}
        metrics["counts"] = counts
        metrics["resets"] = dead.sum(-1)
        return (params, opt_state, usage, step_no + 1, key), metrics

    return step


def _summarise(metrics) -> dict:
    counts = np.asarray(metrics["counts"]).sum(0)  # [L, K] over the chunk
    p = counts / np.maximum(counts.sum(-1, keepdims=True), 1)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)
    out = {m: float(np.mean(metrics[m])) for m in ("loss", "recon", "codebook", "commitment")}
    out["usage"] = (counts > 0).mean(-1).round(4).tolist()
    out["perplexity"] = np.exp(entropy).round(2).tolist()
    out["resets"] = np.asarray(metrics["resets"]).sum(0).tolist()
    return out


@jax.jit
def codes_for(params: dict, x: jax.Array) -> jax.Array:
    return quantize(params["codebooks"], encode(params, x))[0]


@jax.jit
def reconstruction_error(params: dict, x: jax.Array) -> jax.Array:
    z = encode(params, x)
    return jnp.mean((decode(params, quantize(params["codebooks"], z)[1].sum(0)) - x) ** 2)


def init_state(x: jax.Array, config: RQVAEConfig):
    """(params, optimizer state, usage counts [L, K], step, key) for standardised data x [N, D]."""
    k_init, k_kmeans, k_train = jax.random.split(jax.random.key(config.seed), 3)
    params = init_params(k_init, x.shape[1], dataclasses.replace(config, seed=0))
    if config.kmeans_init:
        params = _kmeans_init(params, x, config, k_kmeans)
    usage = jnp.zeros((config.num_levels, config.codebook_size), jnp.int32)
    return (params, _optimizer(config).init(params), usage, jnp.int32(0), k_train)


@functools.partial(jax.jit, static_argnames=("config", "length"))
def train_chunk(state, x: jax.Array, config: RQVAEConfig, length: int):
    """`length` training steps in one lax.scan: (state, per-step metrics). Compiled once per
    config (the seed excluded) and data shape."""
    return jax.lax.scan(_make_step(config, x, _optimizer(config)), state, None, length=length)


def _optimizer(config: RQVAEConfig):
    return optax.adam(config.learning_rate)


def fit(embeddings: np.ndarray, config: RQVAEConfig = RQVAEConfig(), progress: bool = True) -> RQVAEResult:
    """Trains an RQ-VAE on item embeddings [N, D] and returns every item's code tuple."""
    raw = inputs.check_embeddings(embeddings, config.codebook_size)
    standardizer = inputs.Standardizer.fit(raw)
    x = jnp.asarray(standardizer(raw))
    state = init_state(x, config)
    static = dataclasses.replace(config, seed=0)  # the seed only shapes init_state
    chunks = [config.log_every] * (config.num_steps // config.log_every)
    if config.num_steps % config.log_every:
        chunks.append(config.num_steps % config.log_every)
    history = []
    bar = tqdm.tqdm(chunks, desc="rq-vae", unit="chunk", disable=not progress)
    done = 0
    for length in bar:
        state, metrics = train_chunk(state, x, static, length)
        done += length
        summary = {"step": done, **_summarise(metrics)}
        if not np.isfinite(summary["loss"]):
            raise FloatingPointError(f"rq-vae loss is {summary['loss']} at step {done}")
        history.append(summary)
        bar.set_postfix(loss=f"{summary['loss']:.4f}", usage=summary["usage"])
        logging.info(
            "rq-vae step %d loss %.4f recon %.4f usage %s perplexity %s resets %s",
            done,
            summary["loss"],
            summary["recon"],
            summary["usage"],
            summary["perplexity"],
            summary["resets"],
        )
    params = state[0]
    return RQVAEResult(
        params=params,
        standardizer=standardizer,
        codes=np.asarray(codes_for(params, x), np.int32),
        reconstruction_error=float(reconstruction_error(params, x)),
        history=history,
    )
