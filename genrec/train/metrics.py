"""Throughput / MFU bookkeeping, TensorBoard scalars, the log line and the PNG loss curve."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

# Peak dense bf16 FLOP/s per device, matched by substring of `jax.devices()[0].device_kind`
# (first match wins). The CPU entry is per core and nominal (AVX-512: 2 FMA units x 16 float32 lanes x
# 2 FLOP x 3 GHz); the one CPU device uses every core, so its peak is that times the core count.
# MFU on CPU is a rough figure for comparing runs, not a hardware statement.
PEAK_FLOPS = (
    ("TPU v6", 918e12),
    ("TPU v5p", 459e12),
    ("TPU v5", 197e12),  # v5e / "TPU v5 lite"
    ("TPU v4", 275e12),
    ("TPU v3", 123e12),
    ("H200", 989e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L4", 121e12),
    ("cpu", 192e9),
)


def peak_flops(device_kind: str) -> Optional[float]:
    for name, flops in PEAK_FLOPS:
        if name.lower() in device_kind.lower():
            return flops * (os.cpu_count() or 1) if name == "cpu" else flops
    return None


def throughput(
    *,
    steps: int,
    seconds: float,
    batch_size: int,
    tokens_per_batch: int,
    flops_per_step: float,
    num_devices: int,
    device_kind: str,
) -> dict[str, float]:
    """examples/s, tokens/s/device, TFLOP/s/device and MFU over `steps` steps in `seconds`."""
    seconds = max(seconds, 1e-9)
    flops_per_device = flops_per_step * steps / seconds / num_devices
    peak = peak_flops(device_kind)
    return {
        "examples_per_s": batch_size * steps / seconds,
        "tokens_per_s_per_device": tokens_per_batch * steps / seconds / num_devices,
        "tflops_per_s_per_device": flops_per_device / 1e12,
        "mfu": flops_per_device / peak if peak else float("nan"),
    }


# Metrics some objectives add (RL: genrec/train/rl.py), printed after the loss when present.
EXTRA_LOG = ("reward", "kl", "entropy", "invalid_rate")


def log_line(step: int, seconds: float, values: dict[str, float]) -> str:
    extra = "".join(f" | {k} {values[k]:.4f}" for k in EXTRA_LOG if k in values)
    return (
        f"step {step} | {seconds:.1f}s | loss {values['loss']:.4f}{extra} | "
        f"{values['examples_per_s']:.1f} examples/s | {values['tokens_per_s_per_device']:.0f} tokens/s/device"
        f" | {values['tflops_per_s_per_device']:.4f} TFLOP/s/device | MFU {100 * values['mfu']:.2f}%"
    )


class MetricsWriter:
    """TensorBoard scalars plus the loss history for the PNG curve; a no-op writer on every process
    but the first. Writes event files with the `tensorboard` package alone (no TensorFlow needed)."""

    # Scalars drawn as PNG curves by `loss_curve` (each when present): name -> (y label, file).
    CURVES = {
        "loss": ("train loss (per target token)", "loss_curve.png"),
        "reward": ("mean reward of the sampled groups", "reward_curve.png"),
    }

    def __init__(self, workdir: str, enabled: bool = True):
        self.workdir = workdir
        self.enabled = enabled
        self.history: dict[str, list[tuple[int, float]]] = {name: [] for name in self.CURVES}
        self._writer = None
        if enabled:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writer = EventFileWriter(os.path.join(workdir, "tensorboard"))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name in self.CURVES:
            if name in values:
                self.history[name].append((step, float(values[name])))
        if self._writer is None:
            return
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag=name, simple_value=float(value))
                for name, value in values.items()
            ]
        )
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))
        self._writer.flush()

    def loss_curve(self, path: Optional[str] = None) -> Optional[str]:
        """loss_curve.png (at `path` if given), and reward_curve.png when rewards were logged;
        returns the loss curve's path."""
        if not self.enabled or not self.history["loss"]:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        written = {}
        for name, (ylabel, filename) in self.CURVES.items():
            if not self.history[name]:
                continue
            out = path if (name == "loss" and path) else os.path.join(self.workdir, filename)
            steps, values = zip(*self.history[name])
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(steps, values, marker="." if len(steps) < 50 else None)
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.set_title(os.path.basename(os.path.normpath(self.workdir)))
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(out, dpi=100)
            plt.close(fig)
            logging.info("wrote %s", out)
            written[name] = out
        return written["loss"]

    def validation_curve(self, curve: list[dict], metric: str = "ndcg@10") -> Optional[str]:
        """validation_curve.png: the validation metric against training wall-clock minutes."""
        points = [(p["train_wall_s"] / 60, p[metric]) for p in curve if metric in p]
        if not self.enabled or not points:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = os.path.join(self.workdir, "validation_curve.png")
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(*zip(*points), marker=".")
        ax.set(xlabel="training wall-clock (min)", ylabel=f"validation {metric}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
