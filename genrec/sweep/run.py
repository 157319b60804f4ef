"""The sweep runner: one run per grid point, in sequence here or emitted as launch commands.

  python -m genrec.sweep.run --sweep=configs/experiments/sweep_model_sizes.gin --sweep_dir=sweeps/sizes
  python -m genrec.sweep.run --sweep=... --sweep_dir=gs://BUCKET/sweeps/sizes --launcher=tpu \
      --launcher_args="--zone=us-central2-b --accelerator_type=v4-32"

<sweep_dir>/
  sweep.json                 the spec and every point's gin arguments
  tfds/                      prepared datasets, shared by all points
  runs/<point>/              one genrec workdir per point (+ point.json, logs/<run_mode>.log)
  launch_<launcher>.sh       emitted commands (--launcher=tpu|slurm), one line per unfinished point
  REPORT.md, table.csv ...   written by `python -m genrec.sweep.report` (run at the end of a local sweep)
For a bucket sweep_dir (gs://...), sweep.json and the launch script go to --local_dir (default
sweeps/<name>); copy the runs back there (the command is logged) and run the report on it.

Resumable: a point whose eval/results.json exists is skipped; inside a point, a run mode that
finished (recorded in point.json) is not run again. A failing point is recorded and the sweep goes on.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from typing import Optional, Sequence

from genrec.sweep import axes, grid, report, stage
from genrec.sweep.layout import (
    RESULTS,
    data_dir,
    read_point,
    run_dir,
    write_point,
    write_sweep,
)
from genrec.sweep.spec import SweepSpec, load_spec

CHECKPOINT_MODES = ("eval", "export")  # run modes that read <workdir>/checkpoints
LAUNCHERS = {
    "tpu": "bash launch/tpu_pod.sh --name={name} --workdir={workdir} --data_dir={data_dir} "
    "--run_modes={run_modes}",
    "slurm": "sbatch --job-name={name} launch/gpu_slurm.sbatch --workdir={workdir} "
    "--data_dir={data_dir} --run_modes={run_modes}",
}


def is_finished(sweep_dir: str, point: grid.Point, spec: SweepSpec) -> bool:
    """results.json for sweeps that evaluate; otherwise every run mode recorded as done."""
    workdir = run_dir(sweep_dir, point)
    if "eval" in spec.run_modes:
        return os.path.exists(os.path.join(workdir, RESULTS))
    done = read_point(workdir).get("stages", {})
    return all(done.get(m, {}).get("rc") == 0 for m in spec.run_modes)


def stage_args(point: grid.Point, mode: str, workdir: str, datadir: str) -> list[str]:
    """The arguments of `python -m genrec.main` for one run mode of one point."""
    args = [f"--workdir={workdir}", f"--data_dir={datadir}", f"--run_mode={mode}"]
    if mode in CHECKPOINT_MODES:
        args.append(f"--checkpoint_dir={os.path.join(workdir, 'checkpoints')}")
    return args + point.genrec_args()


def run_point(
    spec: SweepSpec, point: grid.Point, sweep_dir: str, python: str, extra_args: Sequence[str] = ()
) -> bool:
    """Runs the point's run modes in order, each a `genrec.main` subprocess; True if all succeed."""
    workdir = run_dir(sweep_dir, point)
    record = read_point(workdir) or {"name": point.name, "values": point.values, "stages": {}}
    record["genrec_args"] = point.genrec_args()
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    for mode in spec.run_modes:
        if record["stages"].get(mode, {}).get("rc") == 0:
            continue
        log_path = os.path.join(workdir, "logs", f"{mode}.log")
        logging.info("%s: %s (log: %s)", point.name, mode, log_path)
        rc, wall = stage.run_stage(
            stage_args(point, mode, workdir, data_dir(sweep_dir)) + list(extra_args),
            log_path,
            python=python,
            cwd=axes.REPO_ROOT,
        )
        record["stages"][mode] = {
            "rc": rc,
            "wall_s": round(wall, 2),
            "log": os.path.relpath(log_path, workdir),
        }
        write_point(workdir, record)
        if rc != 0:
            logging.error(
                "%s: run mode %s failed (exit %d); last lines of %s:\n%s",
                point.name,
                mode,
                rc,
                log_path,
                _tail(log_path),
            )
            return False
    return True


def _tail(path: str, lines: int = 15) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def run_local(
    spec: SweepSpec,
    sweep_dir: str,
    python: str = sys.executable,
    extra_args: Sequence[str] = (),
    fail_fast: bool = False,
) -> dict:
    """Every unfinished point in sequence; returns {point name: 'done'|'skipped'|'failed'}."""
    from tqdm import tqdm

    points = grid.expand(spec)
    write_sweep(sweep_dir, spec, points)
    status = {}
    for point in tqdm(points, desc=f"sweep {spec.name}", unit="run"):
        if is_finished(sweep_dir, point, spec):
            status[point.name] = "skipped"
            recorded = read_point(run_dir(sweep_dir, point)).get("genrec_args")
            if recorded not in (None, point.genrec_args()):
                logging.warning(
                    "%s: finished with other gin arguments than the sweep's now; delete %s to run it again",
                    point.name,
                    run_dir(sweep_dir, point),
                )
            continue
        ok = run_point(spec, point, sweep_dir, python, extra_args)
        status[point.name] = "done" if ok else "failed"
        if not ok and fail_fast:
            break
    return status


def launch_commands(
    spec: SweepSpec, sweep_dir: str, launcher: str, launcher_args: Sequence[str] = ()
) -> list[str]:
    """One shell command per unfinished point, for launch/tpu_pod.sh or launch/gpu_slurm.sbatch."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; expected one of {list(LAUNCHERS)}")
    points = grid.expand(spec)
    commands = []
    for i, point in enumerate(points):
        if is_finished(sweep_dir, point, spec):
            continue
        name = re.sub(r"[^a-z0-9-]", "-", f"genrec-{spec.name}-{i:03d}".lower())[:60]
        head = LAUNCHERS[launcher].format(
            name=name,
            workdir=shlex.quote(run_dir(sweep_dir, point)),
            data_dir=shlex.quote(data_dir(sweep_dir)),
            run_modes=",".join(spec.run_modes),
        )
        tail = [shlex.quote(a) for a in list(launcher_args)] + ["--"]
        tail += [shlex.quote(a) for a in point.genrec_args()]
        commands.append(" ".join([head] + tail))
    return commands


def write_launch_script(
    spec: SweepSpec, sweep_dir: str, launcher: str, commands: Sequence[str], local_dir: Optional[str] = None
) -> str:
    """sweep.json + launch_<launcher>.sh in the sweep folder, or for a bucket sweep_dir in
    local_dir (default sweeps/<name>), where the runs are copied back for the report."""
    remote = "://" in sweep_dir
    record_dir = (local_dir or os.path.join("sweeps", spec.name)) if remote else sweep_dir
    write_sweep(record_dir, spec, grid.expand(spec))
    path = os.path.join(record_dir, f"launch_{launcher}.sh")
    with open(path, "w") as f:
        f.write(f"#!/usr/bin/env bash\n# {spec.name}: one line per unfinished point\n")
        f.write("\n".join(commands) + "\n")
    logging.info("wrote %d launch commands to %s", len(commands), path)
    if remote:
        logging.info(
            "when they finish: gcloud storage rsync -r --exclude='.*/checkpoints/.*' "
            "%s/runs %s/runs && python -m genrec.sweep.report --sweep_dir=%s",
            sweep_dir,
            record_dir,
            record_dir,
        )
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", required=True, help="The sweep file (gin with sweep.* bindings).")
    parser.add_argument("--sweep_dir", required=True, help="Where the runs and the report go.")
    parser.add_argument("--launcher", choices=["local"] + list(LAUNCHERS), default="local")
    parser.add_argument(
        "--launcher_args",
        default="",
        help="Extra arguments for the launcher script (one shell-quoted string).",
    )
    parser.add_argument(
        "--sweep_binding",
        action="append",
        default=[],
        help='A sweep.* binding overriding the file, e.g. "sweep.grid = {...}".',
    )
    parser.add_argument(
        "--local_dir",
        default=None,
        help="For a bucket --sweep_dir: where sweep.json and the launch script go "
        "(default sweeps/<name>); copy runs/ here for the report.",
    )
    parser.add_argument("--raw_data_dir", default=None, help="Passed to every local genrec.main call.")
    parser.add_argument("--dry_run", action="store_true", help="Print the points and commands only.")
    parser.add_argument("--fail_fast", action="store_true", help="Stop at the first failing point.")
    parser.add_argument("--no_report", action="store_true", help="Skip the report after a local sweep.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    try:
        spec = load_spec(args.sweep, args.sweep_binding)
    except axes.SweepSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sweep_dir = args.sweep_dir if "://" in args.sweep_dir else os.path.abspath(args.sweep_dir)
    if args.launcher != "local":
        commands = launch_commands(spec, sweep_dir, args.launcher, shlex.split(args.launcher_args))
        print("\n".join(commands))
        if not args.dry_run:
            write_launch_script(spec, sweep_dir, args.launcher, commands, args.local_dir)
        return 0
    extra = [f"--raw_data_dir={args.raw_data_dir}"] if args.raw_data_dir else []
    if args.dry_run:
        for point in grid.expand(spec):
            state = "finished" if is_finished(sweep_dir, point, spec) else "to run"
            print(f"# {point.name} ({state})")
            for mode in spec.run_modes:
                cmd = ["python", "-m", "genrec.main"]
                cmd += stage_args(point, mode, run_dir(sweep_dir, point), data_dir(sweep_dir))
                print(shlex.join(cmd + extra))
        return 0
    status = run_local(spec, sweep_dir, extra_args=extra, fail_fast=args.fail_fast)
    counts = {s: list(status.values()).count(s) for s in ("done", "skipped", "failed")}
    logging.info("sweep %s: %s", spec.name, counts)
    if not args.no_report:
        logging.info("report: %s", report.write_report(sweep_dir))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
