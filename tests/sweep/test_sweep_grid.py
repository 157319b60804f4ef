"""Sweep files → specs → grid points: expansion, gin overrides, and errors that name the typo."""

import itertools
import os
import textwrap

import pytest

from genrec.sweep import axes, grid, spec

BASE = "configs/sweeps/train_fraction.gin"  # any gin file in the repo serves as the base here


def write(tmp_path, body: str, name="sweep.gin") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_expansion_is_the_product_in_grid_order(tmp_path):
    path = write(
        tmp_path,
        f"""
        sweep.name = 'demo'
        sweep.base_gin_files = ['{BASE}']
        sweep.run_modes = ['build_ids', 'train', 'eval']
        sweep.grid = {{
            'train.learning_rate': [0.001, 0.003],   # a gin binding name
            'train_fraction': [0.1, 0.5, 1.0],
            'seed': [0, 1],
        }}
        sweep.bindings = ['LoopConfig.num_steps = 7']
    """,
    )
    s = spec.load_spec(path)
    points = grid.expand(s)
    expected = list(itertools.product([0.001, 0.003], [0.1, 0.5, 1.0], [0, 1]))
    assert [tuple(p.values.values()) for p in points] == expected
    assert len({p.name for p in points}) == 12
    p = points[5]  # lr 0.001, fraction 1.0, seed 1
    assert p.name == "train.learning_rate-0.001__train_fraction-1.0__seed-1"
    assert p.gin_files == (BASE, "configs/sweeps/train_fraction.gin")
    # Sweep-wide bindings first, then the axes in grid order (later bindings win in gin).
    assert p.bindings == (
        "LoopConfig.num_steps = 7",
        "train.learning_rate = 0.001",
        "subsample_train_users.fraction = 1.0",
        "LoopConfig.seed = 1",
    )
    assert p.genrec_args() == [
        f"--gin_file={BASE}",
        "--gin_file=configs/sweeps/train_fraction.gin",
        "--gin_bindings=LoopConfig.num_steps = 7",
        "--gin_bindings=train.learning_rate = 0.001",
        "--gin_bindings=subsample_train_users.fraction = 1.0",
        "--gin_bindings=LoopConfig.seed = 1",
    ]
    assert s.run_modes == ("build_ids", "train", "eval")


def test_named_choices_and_string_values(tmp_path):
    path = write(
        tmp_path,
        f"""
        sweep.name = 'opt'
        sweep.base_gin_files = ['{BASE}']
        sweep.grid = {{
            'optimizer': {{'adamw': ['train.optimizer = "adamw"', '{BASE}'],
                           'adafactor': ['train.optimizer = "adafactor"']}},
            'load_dataset.name': ['synthetic', 'movielens-100k'],
        }}
    """,
    )
    points = grid.expand(spec.load_spec(path))
    assert [p.name for p in points] == [
        "optimizer-adamw__load_dataset.name-synthetic",
        "optimizer-adamw__load_dataset.name-movielens-100k",
        "optimizer-adafactor__load_dataset.name-synthetic",
        "optimizer-adafactor__load_dataset.name-movielens-100k",
    ]
    assert points[0].gin_files == (BASE, BASE)
    assert points[1].bindings == ('train.optimizer = "adamw"', "load_dataset.name = 'movielens-100k'")
    assert points[3].bindings == ('train.optimizer = "adafactor"', "load_dataset.name = 'movielens-100k'")


@pytest.mark.parametrize(
    "grid_text, message",
    [
        (
            "{'identifer_scheme': ['rqvae']}",
            "unknown grid axis 'identifer_scheme' (did you mean 'identifier_scheme'?)",
        ),
        ("{'sede': [0, 1]}", "unknown grid axis 'sede' (did you mean 'seed'?)"),
        ("{'seed': [0, 0]}", "grid axis 'seed' repeats a value"),
        ("{'seed': [0.5]}", "grid axis 'seed': 0.5 is not an int"),
        ("{'train_fraction': [0.1, 1.5]}", "grid axis 'train_fraction': 1.5 is not in (0, 1]"),
        ("{'model_size': ['huge']}", "no configs/models/huge.gin"),
        ("{'identifier_scheme': ['rqvea']}", "no configs/semantic_ids/rqvea.gin"),
        ("{'seed': []}", "grid axis 'seed' needs a non-empty list"),
        ("{}", "sweep.grid is empty"),
    ],
)
def test_bad_grids_are_errors_naming_the_file_and_key(tmp_path, grid_text, message):
    path = write(
        tmp_path,
        f"""
        sweep.name = 'bad'
        sweep.base_gin_files = ['{BASE}']
        sweep.grid = {grid_text}
    """,
    )
    with pytest.raises(axes.SweepSpecError) as e:
        spec.load_spec(path)
    assert message in str(e.value) and path in str(e.value)


def test_bad_run_mode_base_file_and_unknown_sweep_binding(tmp_path):
    path = write(
        tmp_path,
        f"""
        sweep.name = 'x'
        sweep.base_gin_files = ['{BASE}']
        sweep.grid = {{'seed': [0]}}
    """,
    )
    with pytest.raises(axes.SweepSpecError, match="unknown run mode 'trian'"):
        spec.load_spec(path, ["sweep.run_modes = ['trian']"])
    with pytest.raises(axes.SweepSpecError, match="base gin file not found: configs/nope.gin"):
        spec.load_spec(path, ["sweep.base_gin_files = ['configs/nope.gin']"])
    with pytest.raises(axes.SweepSpecError, match="grids"):
        spec.load_spec(path, ["sweep.grids = {}"])
    with pytest.raises(axes.SweepSpecError, match="Required bindings for `sweep` not provided.*name"):
        spec.load_spec(write(tmp_path, "sweep.grid = {'seed': [0]}", "noname.gin"))
    with pytest.raises(axes.SweepSpecError, match="sweep file not found"):
        spec.load_spec(str(tmp_path / "missing.gin"))


def test_shipped_sweep_files_parse():
    """Every sweep file in configs/ expands, every axis value naming a config that exists; the
    only failure allowed is a base experiment not shipped yet (checked again on quickstart.gin)."""
    sizes = {}
    for folder in ("configs/experiments", "configs/sweeps"):
        for name in sorted(os.listdir(axes.repo_path(folder))):
            path = axes.repo_path(os.path.join(folder, name))
            if not (name.endswith(".gin") and "sweep.grid" in open(path).read()):
                continue
            try:
                spec.load_spec(path)
            except axes.SweepSpecError as e:
                assert "base gin file not found: configs/experiments/" in str(e), e
            base = "sweep.base_gin_files = ['configs/experiments/quickstart_p5.gin']"
            points = grid.expand(spec.load_spec(path, [base]))
            assert all(os.path.exists(axes.repo_path(f)) for p in points for f in p.gin_files)
            sizes[name] = len(points)
    assert sizes == {
        "sweep_identifier_schemes.gin": 15,
        "sweep_model_sizes.gin": 12,
        "sweep_p5_mixture.gin": 12,
        "sweep_sample_efficiency.gin": 12,
        "smoke_synthetic.gin": 4,
    }


def test_runner_cli_reports_a_bad_sweep_file_without_a_traceback(tmp_path, capsys):
    from genrec.sweep import run

    path = write(
        tmp_path,
        f"""
        sweep.name = 'x'
        sweep.base_gin_files = ['{BASE}']
        sweep.grid = {{'modle_size': ['tiny']}}
    """,
    )
    assert run.main([f"--sweep={path}", f"--sweep_dir={tmp_path / 'out'}", "--dry_run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: unknown grid axis 'modle_size' (did you mean 'model_size'?)")
    assert not (tmp_path / "out").exists()
