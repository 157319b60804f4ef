"""What the data-parallel tests and their multi-process worker share: an Evaluator whose beam search
records the batch it is traced with (per device, under data_parallel), and the run's settings."""

import eval_helpers

TASK = f"genrec_{eval_helpers.DATASET}_"
FAMILIES = ("sequential", "direct", "review")  # beam search, candidate scoring, greedy text
CONFIG = dict(beam_size=6, top_k=6, batch_size=8, score_batch_size=64, max_decode_length=8)
LIMIT = 13  # users per task: 8 + 5, so the last decoding call is padded


def spied_evaluator(setup, seen: list, **config):
    from genrec.evaluate import beyond_accuracy, evaluator
    from genrec.model import decoding
    from genrec.model import trie as trie_lib
    from genrec.tasks import item_token_ids

    def search(model, inputs, trie, beam_size, top_k):  # traced once per compiled program
        seen.append(inputs.shape[0])
        return decoding.constrained_beam_search(model, inputs, trie, beam_size=beam_size, top_k=top_k)

    tokens = item_token_ids(setup["vocabulary"], setup["identifiers"])
    return evaluator.Evaluator(
        setup["model"],
        trie=trie_lib.build_trie(tokens),
        item_tokens=tokens,
        vocabulary=setup["vocabulary"],
        popularity=beyond_accuracy.train_popularity(setup["dataset"]),
        config=evaluator.EvalConfig(**(CONFIG | config)),
        beam_search=search,
        eos_id=setup["vocabulary"].eos_id,
    )


def evaluate_families(ev, mesh) -> dict:
    """{family: (metrics, per-template metrics)} of LIMIT users per task, under `mesh`."""
    import jax

    with jax.set_mesh(mesh):
        return {f: ev.evaluate_task(TASK + f, eval_helpers.examples(TASK + f, limit=LIMIT)) for f in FAMILIES}
