"""The train loop: shard the state, compile before step 0, step, log, checkpoint, stop cleanly.

Everything it needs is injected (model factory, optimizer, batch source, mesh), so the same loop runs
the real run mode, the tests' tiny models and the benchmark.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
from typing import Any, Callable, Iterator, NamedTuple, Optional

import gin
import jax
import jax.numpy as jnp
import numpy as np

from genrec.runtime import partitioning
from genrec.runtime import state as state_lib
from genrec.runtime.checkpoints import Checkpointer
from genrec.runtime.meta import CheckpointMeta
from genrec.train import packing, steps
from genrec.train.metrics import MetricsWriter, log_line, throughput

BatchSource = Callable[[int], Iterator[dict[str, np.ndarray]]]  # start_step -> host-local batches


@gin.configurable
@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The train loop's settings, bound in gin once (`LoopConfig.num_steps = ...`); the RL run mode
    reads its own under the `rl` scope (`rl/LoopConfig.num_steps = ...`, configs/runs/rl.gin)."""

    num_steps: int = 1000
    batch_size: int = 64  # global, in rows of the feature-converted batch
    num_microbatches: int = 1
    z_loss: float = 1e-4
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    async_checkpoints: bool = True
    max_wall_s: Optional[float] = None  # stop (with a checkpoint) once this much training time passed


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """A fresh run starts from the parameters of another run's checkpoint (a fresh optimizer state);
    with `keep_reference`, a frozen copy rides in the train state as `ref_params` (RL's KL anchor),
    checkpointed and resumed with everything else."""

    checkpoint_dir: str
    step: int
    keep_reference: bool = False


# (model, optimizer) -> step(state, batch) -> (state, metrics); the default is supervised training.
StepBuilder = Callable[[state_lib.FunctionalModel, Any], Callable]


class NonFiniteLossError(FloatingPointError):
    """The loss or gradient norm became NaN/Inf; the last good checkpoint is left untouched."""


def count_examples(batch: dict[str, np.ndarray]) -> int:
    """Real examples in a (possibly packed) host batch: segments in packed rows, non-empty rows else."""
    return int(packing.examples_per_row(batch).sum())


def count_tokens(batch: dict[str, np.ndarray]) -> int:
    """Non-padding encoder input (if any) + decoder target tokens in a host batch."""
    return sum(
        int((np.asarray(batch[k]) > 0).sum())
        for k in ("encoder_input_tokens", "decoder_target_tokens")
        if k in batch
    )


def write_model_info(path: str, model: state_lib.FunctionalModel, specs: dict) -> int:
    """One line per parameter: name, shape, logical axes, PartitionSpec; returns the parameter count."""
    axes = partitioning.logical_axes(model.abstract_params)
    shapes = model.param_shapes()
    flat_shapes = jax.tree_util.tree_flatten_with_path(shapes)[0]
    flat_axes = dict(
        jax.tree_util.tree_flatten_with_path(axes, is_leaf=lambda x: x is None or isinstance(x, tuple))[0]
    )
    flat_specs = dict(
        jax.tree_util.tree_flatten_with_path(
            specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec)
        )[0]
    )
    total = 0
    lines = []
    for key, leaf in flat_shapes:
        total += math.prod(leaf.shape)
        lines.append(
            f"{jax.tree_util.keystr(key, simple=True, separator='/'):70s} "
            f"{str(tuple(leaf.shape)):18s} {str(flat_axes.get(key)):28s} {flat_specs[key]}"
        )
    with open(path, "w") as f:
        f.write(f"{'parameter':70s} {'shape':18s} {'logical axes':28s} PartitionSpec\n")
        f.write("\n".join(lines) + f"\n\ntotal parameters: {total:,}\n")
    return total


def _log_memory(compiled) -> None:
    try:
        mem = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports it
        mem = None
    if mem is None:
        logging.info("compiled train step: no memory analysis on this backend")
        return
    fields = (
        "argument_size_in_bytes",
        "output_size_in_bytes",
        "alias_size_in_bytes",
        "temp_size_in_bytes",
        "generated_code_size_in_bytes",
    )
    logging.info(
        "compiled train step memory per device: %s",
        ", ".join(f"{f.replace('_size_in_bytes', '')}={getattr(mem, f, 0) / 2**20:.1f} MiB" for f in fields),
    )


class _SigtermFlag:
    """Turns SIGTERM into a flag the loop polls (single process; multi-host runs use JAX's
    preemption service through CheckpointManager.reached_preemption)."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        if jax.process_count() == 1:
            try:
                self._previous = signal.signal(signal.SIGTERM, self._handle)
            except ValueError:  # not the main thread
                self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint and stopping")
        self.raised = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def train_loop(
    *,
    factory: Callable,
    tx,
    batch_source: BatchSource,
    mesh: jax.sharding.Mesh,
    workdir: str,
    config: LoopConfig,
    meta: CheckpointMeta,
    flops_per_step: float = 0.0,
    loss_fn: Optional[steps.LossFn] = None,
    validate: Optional[Callable[[dict], dict[str, float]]] = None,
    make_step: Optional[StepBuilder] = None,
    warm_start: Optional[WarmStart] = None,
    constants: Optional[dict[str, Any]] = None,
) -> tuple[state_lib.TrainState, dict[str, Any]]:
    """Trains to `config.num_steps` (resuming from <workdir>/checkpoints if there is one); returns
    the final state and the run summary (also written to <workdir>/train_summary.json).

    validate: params -> metrics, called at every checkpoint; its values are logged, written to
    TensorBoard as `validation/<name>`, kept in the summary's `validation` list with the training
    seconds so far (the time-to-quality curve, also drawn as validation_curve.png); the time it
    takes is not counted as training time.

    constants: per-run model inputs (pytrees of device arrays already placed on `mesh`, e.g. the
    parallel-digit model's catalogue), given to the step as batch[state_lib.CONSTANTS]: arguments of
    the compiled step in their own shardings, not constants of its program."""
    primary = jax.process_index() == 0
    if config.max_wall_s is not None and jax.process_count() > 1:
        raise ValueError(
            "LoopConfig.max_wall_s is single-process only: hosts' clocks would stop them at different steps"
        )
    os.makedirs(workdir, exist_ok=True)
    model = state_lib.FunctionalModel.from_factory(factory)
    abstract = state_lib.abstract_state(factory, tx, config.seed)
    specs = state_lib.state_specs(model, abstract, mesh)
    if warm_start is not None and warm_start.keep_reference:
        abstract, specs = (
            dict(abstract, ref_params=abstract["params"]),
            dict(specs, ref_params=specs["params"]),
        )
    shardings = partitioning.named(mesh, specs)
    num_params = (
        write_model_info(os.path.join(workdir, "model-info.txt"), model, specs["params"])
        if primary
        else sum(math.prod(x.shape) for x in jax.tree.leaves(abstract["params"]))
    )
    local_batch = partitioning.batch_size_per_process(config.batch_size, mesh)

    ckpt = Checkpointer(
        os.path.join(workdir, "checkpoints"),
        save_every=config.checkpoint_every,
        keep=config.keep_checkpoints,
        async_save=config.async_checkpoints,
    )
    target = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings
    )
    restored = ckpt.restore_latest(target)
    if restored is None:
        state = state_lib.create_sharded_state(
            factory, tx, config.seed, {k: v for k, v in shardings.items() if k != "ref_params"}
        )
        if warm_start is not None:
            state = _warm_started(state, warm_start, tx, target, shardings)
        start = 0
    else:
        state, _ = restored
        start = int(state["step"])
        logging.info("resumed from %s at step %d", ckpt.directory, start)
    earlier = _earlier_run(workdir, start)

    batch_iter = batch_source(start)
    train_step = (
        make_step(model, tx)
        if make_step is not None
        else steps.make_train_step(
            model, tx, z_loss=config.z_loss, num_microbatches=config.num_microbatches, loss_fn=loss_fn
        )
    )
    batch_sharding = jax.sharding.NamedSharding(mesh, partitioning.batch_spec(mesh))
    jitted = jax.jit(
        train_step,
        in_shardings=(shardings, batch_sharding),
        out_shardings=(shardings, None),
        donate_argnums=(0,),
    )
    if constants is not None:
        jitted = _with_constants(train_step, shardings, batch_sharding, constants)

    writer = MetricsWriter(workdir, enabled=primary)
    writer.history.update(earlier.curves)  # a resumed run's PNGs start at step 0
    summary: dict[str, Any] = {
        "steps": start,
        "wall_s": 0.0,
        "examples_per_s": 0.0,
        "num_params": num_params,
        "device_kind": jax.devices()[0].device_kind,
        "num_devices": jax.device_count(),
        "flops_per_step": flops_per_step,
        "final_loss": None,
    }
    if start >= config.num_steps:
        logging.info("checkpoint is at step %d >= num_steps %d: nothing to train", start, config.num_steps)
        ckpt.close()
        return state, summary

    host_batch = _next(batch_iter, start)
    rows = len(next(iter(host_batch.values())))
    if rows != local_batch:
        raise ValueError(
            f"the batch source gave {rows} rows; this process needs {local_batch} "
            f"(batch_size {config.batch_size} / {jax.process_count()} processes)"
        )
    _log_packing(host_batch, summary)
    batch = partitioning.global_batch(host_batch, mesh)
    t0 = time.time()
    extra = () if constants is None else (constants,)
    compiled = jitted.lower(target, batch, *extra).compile()
    logging.info("compiled the train step in %.1fs", time.time() - t0)
    _log_memory(compiled)

    step, preempted, last_loss, curve = start, False, None, list(earlier.validation)
    window, total = _Window(), _Window()
    try:
        with _SigtermFlag() as sigterm:
            while True:
                state, metrics = compiled(state, batch, *extra)
                step += 1
                window.add(host_batch, metrics)
                total.add(host_batch)
                out_of_time = config.max_wall_s is not None and total.seconds() >= config.max_wall_s
                preempted = sigterm.raised or ckpt.reached_preemption(step) or out_of_time
                done = step >= config.num_steps
                saving = done or preempted or step % config.checkpoint_every == 0
                if saving or step % config.log_every == 0:
                    values = window.mean_metrics()  # a NaN at any step of the window shows here
                    _check_finite(step, values, ckpt)  # before any save: a NaN state is never written
                    last_loss = values["loss"]
                    values.update(window.rates(flops_per_step, summary["device_kind"]))
                    logging.info(log_line(step, total.seconds(), values))
                    writer.scalars(step, values)
                    window = _Window()
                if saving:
                    ckpt.save(step, state, meta, force=done or preempted)
                    if validate is not None and not preempted:  # a preempted run exits at once
                        total.pause(
                            lambda: _validate(
                                validate, state, step, earlier.wall_s + total.seconds(), writer, curve
                            )
                        )
                        window = _Window()
                if done or preempted:
                    break
                host_batch = _next(batch_iter, step)
                batch = partitioning.global_batch(host_batch, mesh)
    finally:
        ckpt.close()  # waits for the in-flight async save, also when the loop raised
    wall = total.seconds()
    summary.update(
        steps=step,
        wall_s=wall,
        cumulative_wall_s=earlier.wall_s + wall,
        examples_per_s=total.examples / max(wall, 1e-9),
        total_flops=flops_per_step * (step - start),
        final_loss=last_loss,
        preempted=preempted,
    )
    if curve:
        summary["validation"] = curve
    summary["curves"] = {name: points for name, points in writer.history.items() if points}
    if primary:
        writer.loss_curve()
        if curve:
            writer.validation_curve(curve)
        with open(os.path.join(workdir, "train_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    writer.close()
    return state, summary


def _with_constants(train_step, shardings, batch_sharding, constants):
    """The jitted step(state, batch, constants) that hands `constants` to train_step inside the batch
    (see train_loop)."""

    def step(state, batch, constants):
        return train_step(state, dict(batch, **{state_lib.CONSTANTS: constants}))

    in_shardings = (shardings, batch_sharding, jax.tree.map(lambda x: x.sharding, constants))
    jitted = jax.jit(step, in_shardings=in_shardings, out_shardings=(shardings, None), donate_argnums=(0,))
    return jitted


def _warm_started(state, warm_start: WarmStart, tx, target, shardings):
    """`state` with the parameters of `warm_start`'s checkpoint, a fresh optimizer state for them
    and, if asked, their frozen copy as `ref_params`."""
    from genrec.runtime import checkpoints

    params = checkpoints.restore_params(warm_start.checkpoint_dir, warm_start.step, target["params"])
    logging.info("warm start: parameters of %s step %d", warm_start.checkpoint_dir, warm_start.step)
    state = dict(
        state, params=params, opt_state=jax.jit(tx.init, out_shardings=shardings["opt_state"])(params)
    )
    if warm_start.keep_reference:  # a copy: the train step donates its state, the two must not alias
        state["ref_params"] = jax.jit(lambda p: jax.tree.map(jnp.copy, p), out_shardings=shardings["params"])(
            params
        )
    return state


class _Window:
    """Steps, examples, tokens and (on-device, unsynchronised) metric sums since it was made: the
    numbers of one log line."""

    def __init__(self):
        self.start, self.steps, self.examples, self.tokens = time.time(), 0, 0, 0
        self.sums = None

    def add(self, host_batch: dict[str, np.ndarray], metrics=None) -> None:
        self.steps += 1
        self.examples += count_examples(host_batch)
        self.tokens += count_tokens(host_batch)
        if metrics is not None:
            self.sums = metrics if self.sums is None else jax.tree.map(jnp.add, self.sums, metrics)

    def mean_metrics(self) -> dict[str, float]:
        return {k: float(v) / max(1, self.steps) for k, v in jax.device_get(self.sums).items()}

    def seconds(self) -> float:
        return time.time() - self.start

    def pause(self, fn: Callable[[], Any]) -> None:
        """Runs fn without counting its time."""
        before = time.time()
        fn()
        self.start += time.time() - before

    def rates(self, flops_per_step: float, device_kind: str) -> dict[str, float]:
        n = max(1, self.steps)
        return throughput(
            steps=self.steps,
            seconds=self.seconds(),
            batch_size=self.examples / n,
            tokens_per_batch=self.tokens / n,
            flops_per_step=flops_per_step,
            num_devices=jax.device_count(),
            device_kind=device_kind,
        )


def _validate(
    validate, state, step: int, train_seconds: float, writer: MetricsWriter, curve: list[dict]
) -> None:
    start = time.time()
    values = {k: float(v) for k, v in validate(state["params"]).items()}
    logging.info(
        "step %d validation (%.1fs): %s",
        step,
        time.time() - start,
        " ".join(f"{k}={v:.4f}" for k, v in values.items()),
    )
    writer.scalars(step, {f"validation/{k}": v for k, v in values.items()})
    curve.append({"step": step, "train_wall_s": train_seconds, **values})


class _Earlier(NamedTuple):
    """What the runs this one resumes left in train_summary.json, up to the resumed step."""

    wall_s: float  # training seconds (0 when the summary does not end at the resumed step)
    validation: list  # validation points
    curves: dict  # logged loss / reward points, for the PNG curves


def _earlier_run(workdir: str, start: int) -> _Earlier:
    """The earlier runs' summary, read once (nothing for a fresh run)."""
    path = os.path.join(workdir, "train_summary.json")
    if not start or not os.path.exists(path):
        return _Earlier(0.0, [], {})
    with open(path) as f:
        earlier = json.load(f)
    wall = 0.0
    if earlier.get("steps") != start:
        logging.warning(
            "%s ends at step %s, not at the resumed step %d: earlier training time unknown",
            path,
            earlier.get("steps"),
            start,
        )
    else:
        wall = float(earlier.get("cumulative_wall_s", earlier.get("wall_s", 0.0)))
    return _Earlier(
        wall_s=wall,
        validation=[p for p in earlier.get("validation", []) if p["step"] <= start],
        curves={
            name: [tuple(p) for p in points if p[0] <= start]
            for name, points in earlier.get("curves", {}).items()
        },
    )


def _log_packing(host_batch: dict[str, np.ndarray], summary: dict[str, Any]) -> None:
    """Logs (and puts in the summary) how full the first batch's rows are; warns when one feature
    length alone limits packing."""
    report = packing.fill(host_batch)
    summary["first_batch_fill"] = report
    logging.info(
        "first batch: %.2f examples per row, %s",
        report["examples_per_row"],
        ", ".join(
            f"{f} {100 * report[f + '_fill']:.0f}% full" for f in packing.FEATURES if f + "_fill" in report
        ),
    )
    hint = packing.bound_hint(report) if "decoder_segment_ids" in host_batch else None
    if hint:
        logging.warning(hint)


def _next(it: Iterator, step: int) -> dict[str, np.ndarray]:
    try:
        return next(it)
    except StopIteration:
        raise RuntimeError(
            f"the training data ran out at step {step}; use an infinitely repeating source (num_epochs=None)"
        ) from None


def _check_finite(step: int, values: dict[str, float], ckpt: Checkpointer) -> None:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        good = ckpt.all_steps()
        msg = (
            f"non-finite training metrics at step {step}: {bad} (all metrics: {values}). Stopping without "
            f"saving; last good checkpoint: step {good[-1] if good else None} in {ckpt.directory}. "
            "Try a lower learning rate, gradient clipping, float32 compute or a larger z_loss."
        )
        logging.error(msg)
        raise NonFiniteLossError(msg)
