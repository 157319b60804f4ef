"""Launchers' --dry_run output, the runner's emitted launch commands, and the local runner's
resume/skip/failure logic (with a stand-in for genrec.main; the real stages run in test_sweep_e2e)."""

import json
import os
import shlex
import stat
import subprocess
import sys
import textwrap

import pytest

from genrec.sweep import axes, grid, layout, run, spec

REPO = axes.REPO_ROOT
BASE = "configs/sweeps/train_fraction.gin"
TPU = ["--name=t-1", "--zone=us-central2-b", "--accelerator_type=v4-32"]
GENREC = ["--gin_file=configs/models/tiny.gin", "--gin_bindings=prepare_tasks.mixture = 'p5 all'"]


def sh(args, env=None):
    return subprocess.run(
        ["bash"] + args,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def remote_genrec_args(command: str) -> list[str]:
    """The genrec.main arguments inside an ssh --command string."""
    words = shlex.split(command)
    start = words.index("genrec.main") + 1
    return words[start : words.index("2>&1")]


def test_tpu_pod_dry_run_prints_every_command(tmp_path):
    out = sh(
        [
            "launch/tpu_pod.sh",
            "--dry_run",
            *TPU,
            "--project=proj",
            "--spot",
            "--workdir=gs://bkt/sweeps/a/runs/p0",
            "--run_modes=build_ids,train,eval",
            "--",
        ]
        + GENREC
    )
    assert out.returncode == 0, out.stderr
    lines = [shlex.split(l) for l in out.stdout.splitlines() if not l.startswith("#")]
    scope = ["--zone=us-central2-b", "--project=proj"]
    assert lines[0] == [
        "gcloud",
        "compute",
        "tpus",
        "tpu-vm",
        "create",
        "t-1",
        *scope,
        "--accelerator-type=v4-32",
        "--version=tpu-ubuntu2204-base",
        "--spot",
    ]
    assert lines[1][:2] == ["git", "archive"]
    assert lines[2] == [
        "gcloud",
        "compute",
        "tpus",
        "tpu-vm",
        "scp",
        "/tmp/genrec-t-1.tar.gz",
        "t-1:genrec.tar.gz",
        "--worker=all",
        *scope,
    ]
    setup = lines[3]
    assert setup[:8] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "t-1", *scope]
    assert setup[8] == "--worker=all" and "gcsfuse --implicit-dirs bkt /gcs/bkt" in setup[9]
    assert "uv venv -q --python 3.11 .venv" in setup[9] and "-e '.[tpu]'" in setup[9]
    stages = lines[4:7]
    assert [l[8] for l in stages] == ["--worker=0", "--worker=all", "--worker=all"]
    workdir = "/gcs/bkt/sweeps/a/runs/p0"
    for mode, line in zip(["build_ids", "train", "eval"], stages):
        command = line[9][len("--command=") :]
        assert "GENREC_MULTIHOST=1 .venv/bin/python -m genrec.main" in command
        expected = [f"--workdir={workdir}", "--data_dir=/gcs/bkt/sweeps/a/runs/tfds", f"--run_mode={mode}"]
        expected += [f"--checkpoint_dir={workdir}/checkpoints"] if mode == "eval" else []
        assert remote_genrec_args(command) == expected + GENREC
        assert command.endswith(f"| tee {workdir}/logs/{mode}.$(hostname).log")
    assert lines[7] == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "t-1", *scope, "--quiet"]
    assert len(lines) == 8

    keep = sh(["launch/tpu_pod.sh", "--dry_run", "--keep", *TPU, "--workdir=gs://b/r", "--"])
    assert keep.returncode == 0 and "delete" not in keep.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--zone=z", "--accelerator_type=v4-8", "--workdir=gs://b/r"], "--name is required"),
        (TPU + ["--workdir=/local/dir"], "--workdir must be a bucket path"),
        (TPU + ["--workdir=gs://b/r", "--gin_file=x.gin"], "unknown argument --gin_file=x.gin"),
    ],
)
def test_tpu_pod_bad_arguments(args, message):
    out = sh(["launch/tpu_pod.sh", "--dry_run"] + args)
    assert out.returncode == 2 and message in out.stderr and out.stdout == ""


@pytest.fixture
def slurm_env(tmp_path):
    """A Slurm allocation's variables and a stand-in `scontrol` (no Slurm needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[07-08]" ] && printf "gpu07\\ngpu08\\n"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_NNODES": "2",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_CPUS_ON_NODE": "32",
    }


def test_gpu_slurm_dry_run(slurm_env):
    out = sh(
        [
            "launch/gpu_slurm.sbatch",
            "--dry_run",
            "--workdir=/shared/r",
            "--data_dir=/shared/tfds",
            "--run_modes=build_ids,train,eval",
            "--",
        ]
        + GENREC,
        env=slurm_env,
    )
    assert out.returncode == 0, out.stderr
    lines = [shlex.split(l) for l in out.stdout.splitlines() if not l.startswith("#")]
    assert lines[0] == ["export", "JAX_COORDINATOR_ADDRESS=gpu07:24242", "GENREC_MULTIHOST=1"]
    assert lines[1] == ["mkdir", "-p", "/shared/r/logs"]
    common = ["--data_dir=/shared/tfds"]
    assert lines[2] == [
        "srun",
        "--nodes=1",
        "--ntasks=1",
        "--kill-on-bad-exit=1",
        "--output=/shared/r/logs/build_ids.%t.log",
        ".venv/bin/python",
        "-m",
        "genrec.main",
        "--workdir=/shared/r",
        "--run_mode=build_ids",
        *common,
        *GENREC,
    ]
    assert lines[3][:5] == [
        "srun",
        "--nodes=2",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",
        "--output=/shared/r/logs/train.%t.log",
    ]
    assert lines[4][-len(GENREC) - 4 :] == [
        "--workdir=/shared/r",
        "--run_mode=eval",
        *common,
        "--checkpoint_dir=/shared/r/checkpoints",
        *GENREC,
    ]
    per_gpu = sh(
        ["launch/gpu_slurm.sbatch", "--dry_run", "--workdir=/w", "--tasks=gpu", "--run_modes=train"],
        env=slurm_env,
    )
    srun = shlex.split(per_gpu.stdout.splitlines()[-2])
    assert srun[:4] == ["srun", "--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=8"]
    assert srun[6:10] == ["bash", "-c", 'JAX_LOCAL_DEVICE_IDS=$SLURM_LOCALID exec "$@"', "_"]


def test_gpu_slurm_needs_an_allocation(slurm_env):
    env = {k: v for k, v in slurm_env.items() if k != "SLURM_JOB_NODELIST"}
    env["SLURM_JOB_NODELIST"] = ""
    out = sh(["launch/gpu_slurm.sbatch", "--dry_run", "--workdir=/w"], env=env)
    assert out.returncode == 2 and "SLURM_JOB_NODELIST is unset" in out.stderr


def load(tmp_path, grid_text="{'seed': [0, 1], 'train.learning_rate': [0.1]}", modes="'train', 'eval'"):
    path = tmp_path / "sweep.gin"
    path.write_text(
        textwrap.dedent(f"""
        sweep.name = 'Launch Test'
        sweep.base_gin_files = ['{BASE}']
        sweep.run_modes = [{modes}]
        sweep.grid = {grid_text}
    """)
    )
    return spec.load_spec(str(path))


def test_emitted_tpu_commands_reach_genrec_unchanged(tmp_path):
    s = load(tmp_path)
    commands = run.launch_commands(s, "gs://bkt/sw", "tpu", ["--zone=z", "--accelerator_type=v4-8"])
    points = grid.expand(s)
    assert len(commands) == len(points) == 2
    for i, (cmd, point) in enumerate(zip(commands, points)):
        words = shlex.split(cmd)
        assert words[:4] == [
            "bash",
            "launch/tpu_pod.sh",
            f"--name=genrec-launch-test-00{i}",
            f"--workdir=gs://bkt/sw/runs/{point.name}",
        ]
        # Run the emitted command's dry run: the stage commands carry the point's gin arguments.
        out = sh(words[1:2] + ["--dry_run"] + words[2:])
        assert out.returncode == 0, out.stderr
        ssh = [shlex.split(l) for l in out.stdout.splitlines() if "genrec.main" in l]
        command = next(w for w in ssh[0] if w.startswith("--command="))
        args = remote_genrec_args(command[len("--command=") :])
        assert args[2] == "--run_mode=train" and args[3:] == point.genrec_args()


def test_emitted_slurm_commands(tmp_path, slurm_env):
    s = load(tmp_path)
    sweep_dir = str(tmp_path / "sw")
    commands = run.launch_commands(s, sweep_dir, "slurm")
    point = grid.expand(s)[1]
    words = shlex.split(commands[1])
    assert words[:3] == ["sbatch", "--job-name=genrec-launch-test-001", "launch/gpu_slurm.sbatch"]
    out = sh(words[2:3] + ["--dry_run"] + words[3:], env=slurm_env)
    srun = shlex.split(out.stdout.splitlines()[-2])
    assert srun[-len(point.genrec_args()) :] == point.genrec_args()
    assert f"--workdir={sweep_dir}/runs/{point.name}" in srun
    assert f"--data_dir={sweep_dir}/tfds" in srun
    # A finished point is not emitted again.
    results = os.path.join(layout.run_dir(sweep_dir, point), layout.RESULTS)
    os.makedirs(os.path.dirname(results))
    open(results, "w").write("{}")
    assert len(run.launch_commands(s, sweep_dir, "slurm")) == 1


FAKE_GENREC = """\
import os, sys, json
args = dict(a[2:].split("=", 1) for a in sys.argv[3:] if a.startswith("--") and "=" in a)
workdir, mode = args["workdir"], args["run_mode"]
with open(os.path.join(os.path.dirname(os.path.dirname(workdir)), "calls.txt"), "a") as f:
    f.write(os.path.basename(workdir) + " " + mode + "\\n")
if os.environ.get("FAIL_ON", "") == os.path.basename(workdir) + ":" + mode:
    print("boom"); sys.exit(3)
if mode == "eval":
    os.makedirs(os.path.join(workdir, "eval"), exist_ok=True)
    json.dump({"run": {}, "metrics": {"genrec_x_sequential": {"recall@10": 0.5}}, "cost": {}},
              open(os.path.join(workdir, "eval", "results.json"), "w"))
"""


def test_local_runner_resumes_skips_and_records_failures(tmp_path, monkeypatch):
    fake = tmp_path / "fake_python"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_GENREC)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    s = load(tmp_path, modes="'build_ids', 'train', 'eval'")
    sweep_dir = str(tmp_path / "sw")
    p0, p1 = grid.expand(s)
    calls = lambda: open(os.path.join(sweep_dir, "calls.txt")).read().split("\n")[:-1]  # noqa: E731

    monkeypatch.setenv("FAIL_ON", f"{p1.name}:train")
    assert run.run_local(s, sweep_dir, python=str(fake)) == {p0.name: "done", p1.name: "failed"}
    assert calls() == [
        f"{p0.name} build_ids",
        f"{p0.name} train",
        f"{p0.name} eval",
        f"{p1.name} build_ids",
        f"{p1.name} train",
    ]
    record = json.load(open(os.path.join(layout.run_dir(sweep_dir, p1), layout.POINT_FILE)))
    assert record["stages"]["build_ids"]["rc"] == 0 and record["stages"]["train"]["rc"] == 3
    log = open(os.path.join(layout.run_dir(sweep_dir, p1), "logs", "train.log")).read()
    assert log.startswith("$ ") and "--run_mode=train" in log and "boom" in log

    # Resume: p0 is finished (results.json), p1 restarts at the run mode that failed.
    monkeypatch.delenv("FAIL_ON")
    assert run.run_local(s, sweep_dir, python=str(fake)) == {p0.name: "skipped", p1.name: "done"}
    assert calls()[5:] == [f"{p1.name} train", f"{p1.name} eval"]
    sweep = json.load(open(os.path.join(sweep_dir, layout.SWEEP_FILE)))
    assert [p["name"] for p in sweep["points"]] == [p0.name, p1.name]
    assert sweep["points"][1]["genrec_args"] == p1.genrec_args()


def test_bucket_sweep_records_locally_and_reports_after_copy_back(tmp_path, capsys):
    from genrec.sweep import report

    path = tmp_path / "sweep.gin"
    path.write_text(f"sweep.name = 'b'\nsweep.base_gin_files = ['{BASE}']\nsweep.grid = {{'seed': [0, 1]}}\n")
    local = tmp_path / "local"
    assert (
        run.main(
            [
                f"--sweep={path}",
                "--sweep_dir=gs://bkt/sw",
                "--launcher=tpu",
                "--launcher_args=--zone=z --accelerator_type=v4-8",
                f"--local_dir={local}",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    script = (local / "launch_tpu.sh").read_text().splitlines()
    assert script[2:] == printed and len(printed) == 2
    assert "--workdir=gs://bkt/sw/runs/seed-1" in printed[1] and "--zone=z" in printed[1]
    # The runs, copied back into local/runs, make a report.
    for seed, point in enumerate(grid.expand(spec.load_spec(str(path)))):
        out = local / "runs" / point.name / "eval"
        out.mkdir(parents=True)
        (out / "results.json").write_text(
            json.dumps({"metrics": {"genrec_d_sequential": {"recall@10": 0.25 + seed}}, "cost": {}})
        )
    text = open(report.write_report(str(local))).read()
    assert "| seed-0 | 0 | finished | 0.2500 |" in text and "| seed-1 | 1 | finished | 1.2500 |" in text


def test_finished_point_with_changed_arguments_is_kept_with_a_warning(tmp_path, caplog):
    fake = tmp_path / "fake_python"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_GENREC)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    s = load(tmp_path, grid_text="{'seed': [0]}", modes="'eval'")
    sweep_dir = str(tmp_path / "sw")
    assert run.run_local(s, sweep_dir, python=str(fake)) == {"seed-0": "done"}
    changed = spec.SweepSpec(s.name, s.base_gin_files, s.grid, s.run_modes, ("train.x = 1",))
    assert run.run_local(changed, sweep_dir, python=str(fake)) == {"seed-0": "skipped"}
    assert "finished with other gin arguments" in caplog.text
