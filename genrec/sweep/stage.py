"""One genrec run mode as a logged subprocess: what a sweep's points and the quality benchmark run."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from typing import Optional, Sequence

from genrec import REPO_ROOT


def run_stage(
    args: Sequence[str], log_path: str, *, python: str = sys.executable, cwd: Optional[str] = None
) -> tuple[int, float]:
    """`python -m genrec.main ARGS` with stdout and stderr in `log_path` (its first line the command);
    returns (exit code, wall seconds)."""
    cmd = [python, "-m", "genrec.main", *args]
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    start = time.time()
    with open(log_path, "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd or REPO_ROOT)
    return code, time.time() - start
