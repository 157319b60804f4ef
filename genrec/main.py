"""The genrec entry point: absl flags + gin, one run mode per call (the t5x convention).

  python -m genrec.main --gin_file=configs/experiments/quickstart.gin --run_mode=train \
      --workdir=/tmp/run --gin.LoopConfig.num_steps=100

Each run mode is a function `fn(ctx: RunContext)` in its stage's `run.py`; its knobs are gin bindings.
`--gin.NAME=VALUE` is shorthand for `--gin_bindings='NAME = VALUE'`. The workdir receives the
operative `config.gin` of every run.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import pkgutil
import sys
from typing import Callable, Optional

from absl import app, flags

from genrec import REPO_ROOT, RESOURCE_ROOT  # noqa: F401 (tests read main.REPO_ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up chatter drowns our logs

# Run mode → "module:function" (each stage's run.py).
RUN_MODES = {
    "data": "genrec.datasets.run:prepare_data",
    "stats": "genrec.datasets.run:print_stats",
    "build_ids": "genrec.semantic_ids.run:build_ids",
    "train": "genrec.train.run:train",
    "rl": "genrec.train.rl:rl",
    "eval": "genrec.evaluate.run:evaluate",
    "snapshot": "genrec.snapshot.write:snapshot",
    "export": "genrec.export.run:export",
    "infer": "genrec.export.run:infer",
    "add_items": "genrec.export.catalogue_update:add_items_run",
    "remove_items": "genrec.export.catalogue_update:remove_items_run",
}
# `genrec <subcommand> --items=FILE` → run mode and the gin binding that names the file.
CATALOGUE_SUBCOMMANDS = {"add-items": "add_items", "remove-items": "remove_items"}
# Run modes that never start TensorFlow: they import their own module only (seconds less start-up),
# and every stage only when the gin config names a configurable from outside it.
LIGHT_RUN_MODES = ("add_items", "remove_items")

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [], "Gin files, applied in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, applied after the files.")
flags.DEFINE_enum("run_mode", None, list(RUN_MODES), "What to run.")
flags.DEFINE_string("workdir", "workdir", "Where this run's artifacts go.")
flags.DEFINE_string(
    "raw_data_dir", None, "Folder of raw dataset folders (default: ../shared/data when it exists)."
)
flags.DEFINE_string("data_dir", None, "TFDS data_dir for prepared datasets (default <workdir>/../tfds).")
flags.DEFINE_string("checkpoint_dir", None, "Checkpoint folder to evaluate or export.")
flags.DEFINE_string("bundle", None, "Inference bundle folder (run_mode=infer, `genrec recommend`).")
flags.DEFINE_string("history", None, "Comma-separated item ids (source ids) for run_mode=infer.")
flags.DEFINE_string(
    "histories",
    None,
    "run_mode=infer for many users: a JSON-lines file of "
    '{"user": ..., "history": [item ids]} (see genrec/export/requests.py).',
)
flags.DEFINE_string(
    "output",
    None,
    "Where run_mode=infer --histories writes its JSON lines (default <workdir>/recommendations.jsonl).",
)
flags.DEFINE_integer("top_k", 10, "How many items run_mode=infer returns.")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What every run mode gets from the command line; everything else comes from gin."""

    workdir: str
    raw_data_dir: Optional[str]
    data_dir: str
    checkpoint_dir: Optional[str] = None
    bundle: Optional[str] = None
    history: Optional[str] = None
    histories: Optional[str] = None
    output: Optional[str] = None
    top_k: int = 10


class GinConfigError(ValueError):
    """A gin file or binding that does not parse or names nothing that exists."""


def rewrite_gin_args(argv: list[str]) -> list[str]:
    """`--gin.a.b=1` → `--gin_bindings=a.b = 1`; `genrec recommend ...` → `--run_mode=infer ...`."""
    out = []
    for arg in argv:
        if arg.startswith("--gin.") and "=" in arg:
            name, value = arg[len("--gin.") :].split("=", 1)
            out.append(f"--gin_bindings={name} = {value}")
        else:
            out.append(arg)
    if "recommend" in out[1:]:  # the subcommand, wherever it stands among the flags
        out = [out[0], "--run_mode=infer"] + [a for a in out[1:] if a != "recommend"]
    for command, mode in CATALOGUE_SUBCOMMANDS.items():
        if command in out[1:]:
            items = [a.split("=", 1)[1] for a in out[1:] if a.startswith("--items=")]
            rest = [a for a in out[1:] if a != command and not a.startswith("--items=")]
            out = (
                [out[0], f"--run_mode={mode}"]
                + [f"--gin_bindings={mode}_run.items_file = {f!r}" for f in items]
                + rest
            )
    return out


def resolve(run_mode: str) -> Callable:
    module, fn = RUN_MODES[run_mode].split(":")
    return getattr(importlib.import_module(module), fn)


def import_stages() -> None:
    """Imports every genrec module, so that each gin configurable is registered before parsing
    (a binding for any stage resolves, and a typo in any of them is an error)."""
    import genrec

    for info in pkgutil.walk_packages(genrec.__path__, prefix="genrec."):
        if info.name != __name__ and info.name != "genrec.main":
            importlib.import_module(info.name)


def load_config(run_mode: str, files: list[str], bindings: list[str]) -> None:
    """Registers the gin configurables the run needs, then parses its config strictly. Every stage is
    imported (TensorFlow kept off accelerators first) unless the run mode is light and the config names
    nothing outside its module; a light run's unknown name is therefore still an error, as in any run."""
    if run_mode in LIGHT_RUN_MODES:
        resolve(run_mode)
        try:
            parse_gin(files, bindings)
            return
        except GinConfigError:
            import gin

            gin.clear_config()
    hide_accelerators_from_tensorflow()
    import_stages()
    parse_gin(files, bindings)


def parse_gin(files: list[str], bindings: list[str]) -> None:
    """Parses gin files then bindings. `include 'configs/...'` lines, and a relative --gin_file that is
    not found from the working directory, resolve under RESOURCE_ROOT (the checkout, or the installed
    package's copy of configs/), so an experiment runs from any directory."""
    import gin

    files = [resolve_gin_file(path) for path in files]
    prefixes = gin.config._LOCATION_PREFIXES
    if RESOURCE_ROOT not in prefixes:
        # First, not appended (gin.add_config_file_search_path): gin's package-path reader fails on a
        # relative 'configs/...' outside the checkout before it would reach a later prefix.
        prefixes.insert(0, RESOURCE_ROOT)
    try:
        gin.parse_config_files_and_bindings(files, bindings, finalize_config=False)
    # A missing include raises OSError or TypeError in gin.
    except (ValueError, KeyError, SyntaxError, OSError, TypeError) as e:
        where = ", ".join(files + [repr(b) for b in bindings])
        raise GinConfigError(f"gin config error in {where}: {e}") from e


def resolve_gin_file(path: str) -> str:
    """`path` if it exists, else the same relative path under RESOURCE_ROOT; an error names both."""
    if os.path.exists(path):
        return path
    packaged = os.path.join(RESOURCE_ROOT, path)
    if not os.path.isabs(path) and os.path.exists(packaged):
        return packaged
    raise GinConfigError(
        f"gin file not found: {path}" + ("" if os.path.isabs(path) else f" (nor {packaged})")
    )


def hide_accelerators_from_tensorflow() -> None:
    """TF (pulled in by seqio/TFDS) must leave GPUs and TPUs to JAX."""
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    if tf.config.list_physical_devices("TPU"):
        tf.config.set_visible_devices([], "TPU")


def initialize_distributed() -> None:
    """Multi-host runs (launch/tpu_pod.sh, launch/gpu_slurm.sbatch set GENREC_MULTIHOST=1) start one
    JAX process per host or GPU; JAX finds its peers on Cloud TPU itself, and under Slurm from
    SLURM_PROCID / SLURM_NTASKS and the JAX_COORDINATOR_ADDRESS the sbatch file exports."""
    if os.environ.get("GENREC_MULTIHOST") == "1":
        import jax

        jax.distributed.initialize()
        logging.info(
            "JAX process %d of %d, %d local devices",
            jax.process_index(),
            jax.process_count(),
            jax.local_device_count(),
        )


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.run_mode is None:
        raise app.UsageError(f"--run_mode is required: one of {', '.join(RUN_MODES)}")
    import gin

    from genrec.datasets import loading

    initialize_distributed()
    load_config(FLAGS.run_mode, FLAGS.gin_file, FLAGS.gin_bindings)
    workdir = os.path.abspath(FLAGS.workdir)
    os.makedirs(workdir, exist_ok=True)
    ctx = RunContext(
        workdir=workdir,
        raw_data_dir=FLAGS.raw_data_dir or loading.default_raw_data_dir(),
        data_dir=os.path.abspath(FLAGS.data_dir or os.path.join(workdir, "..", "tfds")),
        checkpoint_dir=FLAGS.checkpoint_dir,
        bundle=FLAGS.bundle,
        history=FLAGS.history,
        histories=FLAGS.histories,
        output=FLAGS.output,
        top_k=FLAGS.top_k,
    )
    with open(os.path.join(workdir, "config.gin"), "w") as f:
        f.write(gin.config_str())
    resolve(FLAGS.run_mode)(ctx)
    with open(os.path.join(workdir, f"operative_config.{FLAGS.run_mode}.gin"), "w") as f:
        f.write(gin.operative_config_str())


# Library warnings that do not apply to genrec: seqio warns that an uncached FunctionDataset is
# shuffled differently after a restart; genrec's stream is deterministic and a resumed run skips to
# the exact batch it stopped at (genrec/train/data.py, tested). Orbax warns whenever a checkpoint
# folder is opened read-only, which is what evaluation and export mean to do.
ANSWERED_WARNINGS = ("Using an uncached FunctionDataset for training", "Given directory is read only")


def _ours_or_important(record: logging.LogRecord) -> bool:
    """Keeps genrec's INFO lines and every library's warnings but ANSWERED_WARNINGS; drops
    libraries' INFO chatter (orbax logs a dozen lines per checkpoint, TFDS one per shard)."""
    if f"{os.sep}genrec{os.sep}" in record.pathname:
        return True
    return record.levelno >= logging.WARNING and not any(w in record.getMessage() for w in ANSWERED_WARNINGS)


def run() -> None:
    """Console-script entry point (`genrec ...`)."""
    logging.getLogger("absl").setLevel(logging.INFO)
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().addFilter(_ours_or_important)
    app.run(main, argv=rewrite_gin_args(sys.argv))


if __name__ == "__main__":
    run()
