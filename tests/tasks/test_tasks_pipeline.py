"""prepare_tasks: builds the vocabulary once under <workdir>/vocab, reloads it, gin knobs bind."""

import os

import gin
import pytest

from genrec.tasks import pipeline, vocabulary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_prepare_tasks_builds_then_reuses_the_vocabulary(tiny_rec, tiny_ids, tmp_path, clean_registry):
    vocab, mixture = pipeline.prepare_tasks(
        str(tmp_path),
        tiny_rec,
        tiny_ids,
        text_vocab_size=300,
        families=["sequential"],
        mixture="sequential_mix",
    )
    assert mixture == "genrec_synthetic_tiny_sequential_mix"
    path = os.path.join(tmp_path, "vocab", vocabulary.MODEL_FILE)
    assert vocab.sentencepiece_model_file == path
    mtime = os.path.getmtime(path)
    again, _ = pipeline.prepare_tasks(
        str(tmp_path), tiny_rec, tiny_ids, families=["sequential"], mixture="sequential_mix"
    )
    assert os.path.getmtime(path) == mtime and again.vocab_size == vocab.vocab_size


def test_evaluation_registers_the_tasks_as_trained(tiny_rec, tiny_ids, tmp_path, clean_registry):
    from genrec import tasks
    from genrec.tasks import examples

    vocab, _ = pipeline.prepare_tasks(
        str(tmp_path), tiny_rec, tiny_ids, text_vocab_size=300, families=["direct"], num_candidates=7, seed=3
    )
    tasks.clear(tiny_rec.name)
    _, names = pipeline.register_as_trained(vocab.sentencepiece_model_file, tiny_rec, tiny_ids)
    assert names == [
        "genrec_synthetic_tiny_direct",
        "genrec_synthetic_tiny_direct_heldout",
        "genrec_synthetic_tiny_p5_all",
    ]
    got = [
        m["candidates"]
        for m in pipeline.eval_examples(
            "genrec_synthetic_tiny_direct", "test", {"inputs": 128, "targets": 8}
        )[1]
    ]
    config = examples.ExampleConfig(num_candidates=7, seed=3)
    assert got == [
        s.candidates.tolist() for s in examples.samples("direct", tiny_rec, tiny_ids, "test", config)
    ]


def test_prepare_tasks_errors_name_the_cause(tiny_rec, tiny_ids, tmp_path, clean_registry):
    from genrec.datasets.records import RecDataset, UserHistory

    bare = RecDataset(
        "bare", tiny_rec.items, tuple(UserHistory(u.user_id, u.items, u.timestamps) for u in tiny_rec.users)
    )
    with pytest.raises(ValueError, match="'bare' has no rating data"):
        pipeline.prepare_tasks(str(tmp_path), bare, tiny_ids, families=["rating"], text_vocab_size=300)
    with pytest.raises(ValueError, match="genrec_bare_sequential_mix was not registered"):
        pipeline.prepare_tasks(str(tmp_path), bare, tiny_ids, families=["direct"], mixture="sequential_mix")


def test_tiger_mixture_with_user_tokens_in_the_vocabulary(tiny_rec, tiny_ids, tmp_path, clean_registry):
    import json

    vocab, mixture = pipeline.prepare_tasks(
        str(tmp_path),
        tiny_rec,
        tiny_ids,
        text_vocab_size=300,
        families=["sequential"],
        mixture="tiger",
        user_tokens=True,
        user_token_buckets=16,
    )
    assert mixture == "genrec_synthetic_tiny_tiger" and vocabulary.user_token_count(vocab) == 16
    with open(os.path.join(tmp_path, "vocab", pipeline.TASKS_FILE)) as f:
        assert json.load(f)["example_config"]["user_tokens"] == 16
    _, meta = pipeline.eval_examples(
        "genrec_synthetic_tiny_tiger_sequential", "test", {"inputs": 64, "targets": 8}
    )
    assert meta[0]["inputs_pretokenized"].startswith("<u_")
    without, _ = pipeline.prepare_tasks(
        str(tmp_path), tiny_rec, tiny_ids, text_vocab_size=300, families=["sequential"], mixture="tiger"
    )
    assert vocabulary.user_token_count(without) == 0  # rebuilt: user tokens only when enabled
    assert without.vocab_size == vocab.vocab_size - 16


@pytest.mark.parametrize(
    "gin_file, expected",
    [
        ("p5.gin", {"inputs": 512, "targets": 64}),
        ("sequential.gin", {"inputs": 160, "targets": 16}),
        ("tiger.gin", {"inputs": 82, "targets": 16}),
    ],
)
def test_task_gin_files_bind_the_feature_lengths(gin_file, expected):
    gin.parse_config_file(os.path.join(REPO, "configs", "tasks", gin_file))
    assert pipeline.task_feature_lengths() == expected
