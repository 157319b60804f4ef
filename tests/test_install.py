"""A non-editable install runs an experiment from outside the checkout: the wheel carries configs/ and the
TFDS builders of data/ as package data, and gin includes and builders resolve inside the installed package."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDERS = ("amazon", "movielens", "synthetic")


def _source_copy(dest: str) -> str:
    """What the wheel is built from, without the checkout's build/ leftovers (setuptools reuses them)."""
    os.makedirs(dest)
    ignore = shutil.ignore_patterns("__pycache__", "fixtures", "*.egg-info")
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy(os.path.join(REPO, name), dest)
    for name in ("genrec", "configs", "data"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(dest, name), ignore=ignore)
    return dest


@pytest.mark.slow
def test_wheel_ships_configs_and_builders_and_runs_outside_the_checkout(tmp_path):
    src = _source_copy(str(tmp_path / "src"))
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        pip + ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), src],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").iterdir()
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(
        os.path.relpath(os.path.join(d, f), REPO)
        for d, _, files in os.walk(os.path.join(REPO, "configs"))
        for f in files
        if f.endswith(".gin")
    )
    assert configs and {f"genrec/{c}" for c in configs} <= names
    assert {f"genrec/data/{b}/{b}_dataset_builder.py" for b in BUILDERS} <= names
    assert not any("fixtures" in n for n in names)

    target = tmp_path / "site"
    subprocess.run(
        pip + ["install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, timeout=300
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run(
        [sys.executable, "-c", "import genrec as g; print(g.__file__, g.RESOURCE_ROOT)"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.split() == [str(target / "genrec" / "__init__.py"), str(target / "genrec")]

    # The experiment named as in the README (relative configs/...): found in the installed package.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "genrec.main",
            "--run_mode=stats",
            "--gin_file=configs/experiments/quickstart.gin",
            f"--workdir={outside / 'w'}",
        ],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "synthetic: users=2,000 items=999 interactions=17,183" in run.stdout
    # The dataset was built by the installed builder, next to the workdir.
    assert (outside / "tfds" / "synthetic" / "1k").is_dir()
    # Bindings of the included configs/runs/eval.gin (read from the package) are in the operative config.
    assert "EvalConfig.beam_size = 20" in (outside / "w" / "config.gin").read_text()
