"""`--run_mode=rl`: GRPO fine-tuning of a supervised generative checkpoint on a ranking reward.

  python -m genrec.main --run_mode=rl --gin_file=configs/experiments/parallel_ids_beauty.gin \
      --gin_file=configs/runs/rl.gin --workdir=W_RL --gin.rl.init_from="'W/checkpoints'"

Either generative model: the checkpoint's meta names it, and `_ModelParts` gathers what differs
(the policy adapter of `rl_policies.py`, how rows become its batches, its FLOPs, its validation).

One RL step, all on device in the one jitted train step of `trainer.train_loop` (same mesh and
rules, checkpoints, resume, log line, TensorBoard and PNG curves as supervised training):
  1. roll out: K identifiers per user from the current policy (`rl_policies.py`);
  2. reward each (`grpo.rewards`: hit, reciprocal rank or NDCG of the sampled list against the
     held-in next item, validity, and weighted sums) and normalise within the group;
  3. `updates_per_rollout` optimizer updates of the GRPO loss (clipped ratio against the sampling
     policy, KL penalty to the frozen supervised model, which rides in the train state as
     `ref_params`, so a resumed run has it without the original checkpoint).
Dropout is off throughout: the sampler, the updated policy and the reference are the same network.

Data (`rl_data.py`): every user's training part only; a reward's target is the item after a random
cut of that part. The checkpoint is chosen on validation (scored at every checkpoint, as in
supervised training); test is for the evaluation run mode, which reads RL checkpoints like any other.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional

import gin
import jax
import jax.numpy as jnp
import optax

from genrec import datasets
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.state import FunctionalModel
from genrec.semantic_ids.artifact import Identifiers
from genrec.train import grpo, optimizers, rl_data, selection, trainer


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RlConfig:
    group_size: int = 16  # identifiers sampled per user (K)
    rewards: tuple[tuple[str, float], ...] = (("ndcg", 1.0),)  # (name, weight) pairs, summed
    constrained: bool = True  # sample from the catalogue only (see rl_policies.py)
    temperature: float = 1.0  # of the sampling distribution (the loss uses the policy itself)
    clip_epsilon: float = 0.2
    kl_coef: float = 0.05
    updates_per_rollout: int = 1  # optimizer updates on each rollout (the ratio moves from the 2nd)

    def __post_init__(self):
        object.__setattr__(self, "rewards", tuple((str(n), float(w)) for n, w in dict(self.rewards).items()))
        grpo.check_settings(self.group_size, self.clip_epsilon, self.kl_coef)
        grpo.check_rewards(dict(self.rewards))
        if self.temperature <= 0 or self.updates_per_rollout < 1:
            raise ValueError(
                f"RlConfig: temperature {self.temperature} must be > 0 and "
                f"updates_per_rollout {self.updates_per_rollout} >= 1"
            )


def make_rl_step(model: FunctionalModel, tx: optax.GradientTransformation, policy, config: RlConfig):
    """rl_step(state, batch) -> (state, metrics); state holds `ref_params` beside the usual fields."""
    weights = dict(config.rewards)

    def rl_step(state, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        module = lambda params: model.module(params, key)  # noqa: E731  (dropout stays off)
        samples, valid, old_log_probs, entropy = jax.lax.stop_gradient(
            policy.sample(
                module(state["params"]),
                batch,
                key,
                group_size=config.group_size,
                constrained=config.constrained,
                temperature=config.temperature,
            )
        )
        mask = policy.token_mask(samples)
        ref_log_probs = jax.lax.stop_gradient(
            policy.token_log_probs(module(state["ref_params"]), batch, samples)
        )
        likelihood = grpo.sequence_log_likelihood(old_log_probs, mask)
        reward, parts = grpo.rewards(samples, policy.targets(batch), valid, likelihood, weights)
        advantages = grpo.group_advantages(reward)

        def objective(params):
            log_probs = policy.token_log_probs(module(params), batch, samples)
            return grpo.loss(
                log_probs,
                old_log_probs,
                ref_log_probs,
                advantages,
                mask,
                clip_epsilon=config.clip_epsilon,
                kl_coef=config.kl_coef,
                pg_mask=grpo.contested(samples),
            )

        def update(carry, _):
            params, opt_state = carry
            (loss, info), grads = jax.value_and_grad(objective, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, info, optax.global_norm(grads))

        (params, opt_state), (losses, info, grad_norms) = jax.lax.scan(
            update, (state["params"], state["opt_state"]), None, length=config.updates_per_rollout
        )
        new_state = dict(state, step=state["step"] + 1, params=params, opt_state=opt_state)
        metrics = {
            "loss": losses.mean(),
            "reward": reward.mean(),
            "kl": info["kl"][0],
            "clip_fraction": info["clip_fraction"].mean(),
            "entropy": entropy.mean(),
            "invalid_rate": 1.0 - valid.astype(jnp.float32).mean(),
            "grad_norm": grad_norms.mean(),
            **{f"reward_{name}": value.mean() for name, value in parts.items()},
        }
        return new_state, metrics

    return rl_step


@gin.configurable
def rl(
    ctx,
    *,
    init_from: str = gin.REQUIRED,
    init_step: Optional[int] = None,
    validate: bool = True,
    validation_users: Optional[int] = None,
    template_id: str = "sequential-1",
) -> dict:
    """The rl run mode: GRPO from the supervised checkpoints folder `init_from` (`init_step`: which
    checkpoint; default the step its run chose on validation, else the newest). `RlConfig.*` sets
    the group, rewards and loss; `make_optimizer.*` the optimizer; the loop's steps, batch and
    cadence are `LoopConfig` under the `rl` scope (`rl/LoopConfig.num_steps`, configs/runs/rl.gin, which
    binds every field so nothing leaks from the supervised experiment it is layered over); returns
    the run summary.

    validation_users: the encoder-decoder's checkpoints are scored by beam search on the first this
      many validation users (default all; the parallel-digit model always ranks every user exactly).
    template_id: the sequential prompt the encoder-decoder's rollouts use when its mixture had prose
      templates (a model trained on TIGER's task gets TIGER's)."""
    dataset = datasets.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    with gin.config_scope("rl"):
        loop = trainer.LoopConfig()
    return train_rl(
        ctx.workdir,
        dataset,
        init_from,
        loop=loop,
        config=RlConfig(),
        init_step=init_step,
        validate=validate,
        validation_users=validation_users,
        template_id=template_id,
    )[1]


@dataclasses.dataclass(frozen=True)
class RlParts:
    """What RL needs of one model family (its `rl_parts`): its policy adapter (`rl_policies.py`), how
    rows become its batches, the model FLOPs of one forward pass over a user (its K samples included),
    and validation(params) -> metrics."""

    policy: object
    featurize: object
    forward_flops_per_user: int
    validation: object


def train_rl(
    workdir: str,
    dataset,
    init_from: str,
    *,
    loop,
    config: RlConfig,
    init_step: Optional[int] = None,
    mesh=None,
    validate: bool = False,
    tx=None,
    validation_users: Optional[int] = None,
    template_id: str = "sequential-1",
):
    """GRPO on `dataset` from the checkpoint `init_from` (/`init_step`) by `trainer.train_loop`
    (optimizer: `tx`, default gin's `make_optimizer`); returns (state, summary)."""
    if init_step is None:
        init_step = selection.chosen_step(init_from)
    step, meta = checkpoints.read_meta(init_from, init_step)
    if meta.dataset not in (None, dataset.name):
        raise ValueError(f"rl.init_from={init_from} was trained on {meta.dataset!r}, not {dataset.name!r}")
    identifiers = Identifiers.load(meta.identifiers_dir)
    factory = checkpoints.model_factory(meta)
    mesh = mesh or partitioning.make_mesh()
    family = families.for_meta(meta)
    parts = family.rl_parts(
        meta,
        dataset=dataset,
        identifiers=identifiers,
        factory=factory,
        mesh=mesh,
        config=config,
        validation_users=validation_users,
        template_id=template_id,
    )
    local_batch = partitioning.batch_size_per_process(loop.batch_size, mesh)
    rl_meta = meta.replace(
        rl=dataclasses.asdict(config), rl_init_from=os.path.abspath(init_from), rl_init_step=step, step=None
    )
    logging.info(
        "RL (GRPO) of the %s model from %s step %d on %s: %s",
        meta.model,
        init_from,
        step,
        dataset.name,
        config,
    )
    # model FLOPs of a step: two forward passes (the sampling pass, which also scores the samples,
    # and the reference's) and a forward + backward per update
    flops_per_step = loop.batch_size * parts.forward_flops_per_user * (2 + 3 * config.updates_per_rollout)
    return trainer.train_loop(
        factory=factory,
        tx=tx or optimizers.make_optimizer(loop.num_steps),
        mesh=mesh,
        workdir=workdir,
        flops_per_step=flops_per_step,
        config=loop,
        meta=rl_meta,
        validate=parts.validation if validate else None,
        batch_source=lambda start: rl_data.batches(
            dataset, local_batch, parts.featurize, start_step=start, seed=loop.seed
        ),
        make_step=lambda model, tx: make_rl_step(model, tx, parts.policy, config),
        warm_start=trainer.WarmStart(init_from, step, keep_reference=True),
    )
