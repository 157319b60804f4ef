"""Batch recommendation: `recommend_batch` against one-at-a-time `recommend`, and `genrec recommend
--histories=FILE.jsonl` (the file's format, its errors, the output)."""

import json

import numpy as np
import pytest

from genrec.datasets.textio import DataError


@pytest.fixture(scope="module")
def recommender(export_setup):
    from genrec.export import recommender as recommender_lib

    return recommender_lib.load(export_setup["bundle"])


def _histories(setup, n):
    """n test users' visible histories (source ids), of different lengths."""
    ids = setup["dataset"].items.source_ids
    return [
        [ids[i] for i in u.items[:-1][-(1 + k % 4) :]]
        for k, u in enumerate(setup["dataset"].split("test")[:n])
    ]


def test_a_batch_recommends_what_each_user_gets_alone(export_setup, recommender):
    histories = _histories(export_setup, 6)
    users = ["u0", None, "u2", "u3", None, "u5"]
    batched = recommender.recommend_batch(histories, top_k=5, users=users, batch_size=4)  # 4 + 2 padded
    assert len(batched) == 6
    for history, user, got in zip(histories, users, batched):
        want = recommender.recommend(history, top_k=5, user=user)
        assert [r.item for r in got] == [r.item for r in want]
        np.testing.assert_allclose([r.score for r in got], [r.score for r in want], atol=1e-4)
        assert len(got) == 5 and not {r.source_id for r in got} & set(history)
    with pytest.raises(ValueError, match="2 users for 6 histories"):
        recommender.recommend_batch(histories, users=["a", "b"])


def test_serving_drops_the_whole_history_from_the_same_search(export_setup, recommender):
    """Dropping history filters the list the kept-history search returns; it does not widen the beam."""
    users = export_setup["dataset"].split("test")
    history = max((u.items[:-1].tolist() for u in users), key=len)  # our ids, the whole history
    kept = recommender.recommend(history, top_k=20, drop_history=False)
    dropped = recommender.recommend(history, top_k=20)  # the serving default drops history
    assert len(kept) == 20 and len(dropped) < 20  # some history items were in the beam
    assert [r.item for r in dropped] == [r.item for r in kept if r.item not in history]
    score_of = {r.item: r.score for r in kept}
    assert [r.score for r in dropped] == [score_of[r.item] for r in dropped]


def _main(argv):
    from genrec import main

    argv = main.rewrite_gin_args(["genrec", "recommend"] + argv)
    main.FLAGS.unparse_flags()
    main.FLAGS(argv)
    try:
        main.main(argv)
    finally:
        main.FLAGS.unparse_flags()


def test_recommend_histories_file(export_setup, recommender, tmp_path):
    histories = _histories(export_setup, 5)
    requests = tmp_path / "users.jsonl"
    lines = [json.dumps({"user": f"user_{k}", "history": h}) for k, h in enumerate(histories[:3])]
    lines += ["", json.dumps({"history": histories[3]}), json.dumps({"user": 7, "history": histories[4]})]
    requests.write_text("\n".join(lines) + "\n")
    out = tmp_path / "recs" / "out.jsonl"
    _main(
        [
            f"--bundle={export_setup['bundle']}",
            f"--histories={requests}",
            f"--output={out}",
            "--top_k=3",
            f"--workdir={tmp_path / 'w'}",
        ]
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["user"], r["line"]) for r in rows] == [
        ("user_0", 1),
        ("user_1", 2),
        ("user_2", 3),
        (None, 5),
        ("7", 6),
    ]
    for row, history in zip(rows, histories):
        want = recommender.recommend(history, top_k=3, user=row["user"])
        assert [x["item"] for x in row["items"]] == [r.source_id for r in want]
        assert [x["title"] for x in row["items"]] == [r.title for r in want]
        np.testing.assert_allclose([x["score"] for x in row["items"]], [r.score for r in want], atol=1e-4)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"user": "a", "history": ["KNOWN", "NOPE"]}', r"users.jsonl:2: unknown items in history: NOPE"),
        ('{"user": "a", "history": []}', r"users.jsonl:2: 'history' must be a non-empty list"),
        ('{"user": "a", "items": ["KNOWN"]}', r"users.jsonl:2: 'history' must be a non-empty list"),
        ('{"user": "a", "history": ["KNOWN"', r"users.jsonl:2: malformed line"),
        ('["KNOWN"]', r"users.jsonl:2: malformed line, expected an object"),
    ],
)
def test_a_bad_request_line_is_named_and_nothing_is_written(export_setup, tmp_path, line, message):
    known = export_setup["dataset"].items.source_ids[0]
    requests = tmp_path / "users.jsonl"
    requests.write_text(json.dumps({"history": [known]}) + "\n" + line.replace("KNOWN", known) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=message):
        _main(
            [
                f"--bundle={export_setup['bundle']}",
                f"--histories={requests}",
                f"--output={out}",
                f"--workdir={tmp_path / 'w'}",
            ]
        )
    assert not out.exists() and not (tmp_path / "out.jsonl.tmp").exists()


def test_request_file_mistakes(export_setup, tmp_path):
    from genrec.export import requests

    with pytest.raises(DataError, match="missing.jsonl: no such request file"):
        requests.read_requests(str(tmp_path / "missing.jsonl"), ["A"])
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="empty.jsonl: holds no requests"):
        requests.read_requests(str(tmp_path / "empty.jsonl"), ["A"])
    with pytest.raises(ValueError, match="not both"):
        _main(
            [
                f"--bundle={export_setup['bundle']}",
                "--history=A",
                f"--histories={tmp_path / 'x'}",
                f"--workdir={tmp_path / 'w'}",
            ]
        )
