"""Optimizers and learning-rate schedules (optax), gin-configurable.

make_optimizer.name = 'adafactor'          # or 'adamw'
make_optimizer.schedule = 'cosine'         # or 'inverse_sqrt' (t5x's rsqrt decay), 'constant'
"""

from __future__ import annotations

import gin
import jax.numpy as jnp
import optax


def learning_rate_schedule(peak: float, warmup_steps: int, schedule: str, total_steps: int) -> optax.Schedule:
    """Linear warmup to `peak`, then `schedule`: 'inverse_sqrt', 'cosine' (to 0 at total_steps) or
    'constant'."""
    warmup_steps = max(0, int(warmup_steps))

    def warmup(step):
        return peak * jnp.minimum(1.0, (step + 1) / max(1, warmup_steps))

    if schedule == "constant":
        return warmup
    if schedule == "inverse_sqrt":
        return lambda step: (
            warmup(step) * jnp.sqrt(max(1, warmup_steps) / jnp.maximum(step + 1, max(1, warmup_steps)))
        )
    if schedule == "cosine":
        decay = max(1, total_steps - warmup_steps)

        def cosine(step):
            frac = jnp.clip((step - warmup_steps) / decay, 0.0, 1.0)
            return warmup(step) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))

        return cosine
    raise ValueError(
        f"unknown learning-rate schedule {schedule!r}; use 'inverse_sqrt', 'cosine' or 'constant'"
    )


@gin.configurable
def make_optimizer(
    total_steps: int,
    *,
    name: str = "adamw",
    learning_rate: float = 1e-3,
    warmup_steps: int = 100,
    schedule: str = "inverse_sqrt",
    weight_decay: float = 0.01,
    b1: float = 0.9,
    b2: float = 0.98,
    clip_norm: float = 1.0,
) -> optax.GradientTransformation:
    """Global-norm gradient clipping (clip_norm <= 0 disables it) then AdamW or Adafactor."""
    lr = learning_rate_schedule(learning_rate, warmup_steps, schedule, total_steps)
    if name == "adamw":
        opt = optax.adamw(lr, b1=b1, b2=b2, weight_decay=weight_decay)
    elif name == "adafactor":
        opt = optax.adafactor(lr, clipping_threshold=None, weight_decay_rate=weight_decay or None)
    else:
        raise ValueError(f"unknown optimizer {name!r}; use 'adamw' or 'adafactor'")
    return optax.chain(optax.clip_by_global_norm(clip_norm), opt) if clip_norm > 0 else opt
