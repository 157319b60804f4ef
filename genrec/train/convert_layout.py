"""Converts a checkpoint between the unrolled and scanned layer layouts (ModelConfig.scan_layers).

  python -m genrec.train.convert_layout --checkpoint_dir=W/checkpoints --out_dir=W2/checkpoints [--step=N]

Reads the newest checkpoint (or --step) as host arrays, stacks or unstacks every layer stack in it
(the parameters and the optimizer state that mirrors them), flips `model_config.scan_layers` in its
meta and writes a checkpoint of the same step under --out_dir. Training resumes from it with the
flipped layout; the resume checks every array's name and shape against the state it builds, so an
optimizer statistic that does not convert by stacking is refused there with the arrays named.
To go on in the same workdir (its vocabulary and identifiers stay), convert into a new folder, then
move W/checkpoints aside and the new folder into its place.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

from genrec.model import layer_stack
from genrec.runtime.checkpoints import Checkpointer, read_meta, saved_tree


def convert_stacks(tree: Any, to_scanned: bool) -> Any:
    """Every layer stack found under a dict key in layer_stack.STACKS, at any depth, converted."""
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            if key in layer_stack.STACKS and value is not None:
                if layer_stack.is_layer_list(value) != to_scanned:
                    raise ValueError(
                        f"{key}: already in the {'scanned' if to_scanned else 'unrolled'} layout"
                    )
                out[key] = (
                    layer_stack.stack_layers(value) if to_scanned else layer_stack.unstack_layers(value)
                )
            else:
                out[key] = convert_stacks(value, to_scanned)
        return out
    if isinstance(tree, (list, tuple)):
        return type(tree)(convert_stacks(v, to_scanned) for v in tree)
    return tree


def convert_checkpoint(checkpoint_dir: str, out_dir: str, step: Optional[int] = None) -> tuple[int, bool]:
    """Writes the converted checkpoint; returns (step, whether it is now scanned)."""
    step, meta = read_meta(checkpoint_dir, step)
    state_dir = os.path.join(os.path.abspath(checkpoint_dir), str(step), "state")
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), saved_tree(state_dir))
    state = ocp.PyTreeCheckpointer().restore(state_dir, restore_args=restore_args)
    to_scanned = layer_stack.is_layer_list(state["params"][layer_stack.STACKS[0]])
    state = convert_stacks(state, to_scanned)  # host arrays in, host arrays out
    meta = meta.replace(model_config=dict(meta.model_config, scan_layers=to_scanned))
    out = Checkpointer(out_dir, save_every=1, keep=1, async_save=False)
    if out.all_steps():
        out.close()
        raise FileExistsError(f"{out_dir} already holds checkpoints {out.all_steps()}; use an empty folder")
    out.save(step, state, meta, force=True)
    out.close()
    return step, to_scanned


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint_dir", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--step", type=int, default=None, help="default: the newest readable checkpoint")
    args = parser.parse_args(argv)
    step, scanned = convert_checkpoint(args.checkpoint_dir, args.out_dir, args.step)
    print(
        f"wrote step {step} to {args.out_dir} in the {'scanned' if scanned else 'unrolled'} layout; "
        f"resume with --gin.ModelConfig.scan_layers={scanned}"
    )


if __name__ == "__main__":
    main()
