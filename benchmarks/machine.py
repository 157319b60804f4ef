"""What a measurement records about the machine it ran on."""

from __future__ import annotations

import subprocess


def uptime() -> str:
    """`uptime`'s line: the load a measurement ran under, recorded beside it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
