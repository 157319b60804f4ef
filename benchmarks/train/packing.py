"""Packing against the target length: examples per packed row, input/target fill and training
examples/s of an experiment for several `task_feature_lengths.targets`, measured in one process.

  # after --run_mode=data and build_ids of the experiment into W:
  .venv/bin/python -m benchmarks.train.packing --gin_file=configs/experiments/tiger_beauty.gin \
      --workdir=W --targets=8,16,32 --batch_size=64 --steps=8

Each length trains `--steps` steps (after compiling) of the experiment's model in a fresh folder
beside W that reuses W's identifiers and vocabulary; the first row is the baseline of the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(gin_file: str, workdir: str, targets: int, batch_size: int, steps: int) -> dict:
    import gin

    from genrec import datasets
    from genrec import main as genrec_main
    from genrec.runtime import families
    from genrec.train import run, trainer

    gin.clear_config()
    genrec_main.parse_gin([gin_file], [f"task_feature_lengths.targets = {targets}"])
    dataset = datasets.load(data_dir=os.path.join(workdir, "..", "tfds"))
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(workdir))) as tmp:
        for part in ("semantic_ids", "vocab"):
            if os.path.isdir(os.path.join(workdir, part)):
                shutil.copytree(os.path.join(workdir, part), os.path.join(tmp, part))
        loop = trainer.LoopConfig(
            num_steps=steps,
            batch_size=batch_size,
            log_every=steps,
            checkpoint_every=10 * steps,
            async_checkpoints=False,
        )
        _, summary = run.train_family(families.get("encoder_decoder"), tmp, dataset, loop)
    return {"targets": targets, "examples_per_s": summary["examples_per_s"], **summary["first_batch_fill"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gin_file", required=True)
    parser.add_argument("--workdir", required=True, help="the experiment's workdir (data + build_ids done)")
    parser.add_argument("--targets", default="8,16,32")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    args = parser.parse_args()

    from genrec import main as genrec_main

    genrec_main.hide_accelerators_from_tensorflow()
    genrec_main.import_stages()
    rows = [
        measure(args.gin_file, args.workdir, int(t), args.batch_size, args.steps)
        for t in args.targets.split(",")
    ]
    print(
        f"{'targets':>7} {'examples/row':>12} {'inputs fill':>11} {'targets fill':>12} "
        f"{'examples/s':>10} {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r['targets']:>7} {r['examples_per_row']:>12.2f} {r['inputs_fill']:>11.0%} "
            f"{r['targets_fill']:>12.0%} {r['examples_per_s']:>10.1f} "
            f"{r['examples_per_s'] / rows[0]['examples_per_s']:>5.2f}x"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": " ".join(sys.argv), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
