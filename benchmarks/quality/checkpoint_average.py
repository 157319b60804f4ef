"""Does averaging a run's last checkpoints help? Rank every user of a split exactly with (a) the
parameters of several checkpoints averaged into one model, or (b) the sum of their catalogue
log-softmax scores (an ensemble). Each spec is `avg:S1,S2,...` or `ens:S1,S2,...`.

  python -m benchmarks.quality.checkpoint_average --checkpoint_dir=W/checkpoints --data_dir=D \
      --split=validation --exclude_history avg:2200 avg:1980,2200 avg:1760,1980,2200 ens:1980,2200
"""

from __future__ import annotations

import argparse
import os


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint_dir", required=True)
    p.add_argument("--data_dir", required=True)
    p.add_argument(
        "--raw_data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    )
    p.add_argument("--split", default="validation")
    p.add_argument("--exclude_history", action="store_true", help="drop each user's history from the ranking")
    p.add_argument("specs", nargs="+")
    args = p.parse_args()
    import jax

    from genrec import datasets
    from genrec.evaluate import exact, full_ranking
    from genrec.runtime import checkpoints, partitioning
    from genrec.runtime.state import FunctionalModel
    from genrec.semantic_ids.artifact import Identifiers

    mesh = partitioning.make_mesh()
    _, meta = checkpoints.read_meta(args.checkpoint_dir, None)
    model = FunctionalModel.from_factory(checkpoints.model_factory(meta))
    abstract = checkpoints.sharded_param_shapes(model, mesh)
    dataset = datasets.load(meta.dataset, data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
    codes = Identifiers.load(meta.identifiers_dir).codes
    restored = {}

    def scorer(params):
        return exact.scorer(model.module(params, jax.random.key(0)), codes)

    def params_at(step):
        if step not in restored:
            restored[step] = checkpoints.restore_params(args.checkpoint_dir, step, abstract)
        return restored[step]

    with jax.set_mesh(mesh):
        for spec in args.specs:
            mode, steps = spec.split(":")
            params = [params_at(int(s)) for s in steps.split(",")]
            if mode == "avg":
                fn = scorer(jax.tree.map(lambda *xs: sum(xs) / len(xs), *params))
            elif mode == "ens":
                members = [scorer(p) for p in params]
                fn = lambda tokens: sum(jax.nn.log_softmax(s.fn(*s.args, tokens), axis=-1) for s in members)  # noqa: E731
            else:
                raise ValueError(f"spec {spec!r}: use avg:STEPS or ens:STEPS")
            m = full_ranking.evaluate(
                fn,
                dataset,
                args.split,
                max_len=meta.model_config["max_len"],
                batch_size=exact.EVAL_BATCH,
                exclude_history=args.exclude_history,
            )
            print(
                f"{spec} {args.split}: Recall@10 {m['recall@10']:.4f} NDCG@10 {m['ndcg@10']:.4f}", flush=True
            )


if __name__ == "__main__":
    main()
