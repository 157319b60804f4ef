"""Two local JAX processes × 4 CPU devices (jax.distributed on localhost): the launcher the
multi-process tests share (`run_workers`) and the workers' start (`initialize`).

A worker is a script `worker.py PORT PROCESS_ID OUT_DIR` that calls `initialize(port, pid)` first
and writes what the test checks into OUT_DIR."""

import os
import socket
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_workers(worker: str, out_dir, timeout: int) -> None:
    """Runs `worker` as processes 0 and 1 of one job; fails with a worker's output if one fails."""
    port = _free_port()
    path = [REPO, TESTS, os.path.dirname(os.path.abspath(worker)), os.environ.get("PYTHONPATH", "")]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(path),
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, worker, str(port), str(pid), str(out_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pid in (0, 1)
    ]
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-4000:]


def initialize(port: int, pid: int) -> None:
    """Joins the two-process job: 8 devices in all, 4 of them this process's."""
    import jax

    jax.distributed.initialize(
        f"localhost:{port}", num_processes=2, process_id=pid, initialization_timeout=120
    )
    assert jax.device_count() == 8 and jax.local_device_count() == 4
