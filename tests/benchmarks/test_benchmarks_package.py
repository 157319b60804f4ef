"""benchmarks/ is a package: scripts run as `python -m benchmarks.<area>.<script>` from the repository root
and import each other as `benchmarks.<area>.<module>`, with no sys.path edits."""

import ast
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(REPO, "benchmarks")
PENDING: set[str] = set()  # areas not yet converted to the package layout


def _areas():
    return sorted(
        d
        for d in os.listdir(BENCHMARKS)
        if d not in PENDING
        and not d.startswith((".", "_"))
        and os.path.isdir(os.path.join(BENCHMARKS, d))  # an area is a folder; modules beside them are shared
        and any(f.endswith(".py") for f in os.listdir(os.path.join(BENCHMARKS, d)))
    )


def _sources():
    for name in sorted(os.listdir(BENCHMARKS)):  # the shared modules beside the areas
        if name.endswith(".py"):
            yield "", os.path.join(BENCHMARKS, name)
    for area in _areas():
        folder = os.path.join(BENCHMARKS, area)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                yield area, os.path.join(folder, name)


def test_every_area_is_a_package():
    assert os.path.exists(os.path.join(BENCHMARKS, "__init__.py"))
    assert len(_areas()) >= 6
    assert [a for a in _areas() if not os.path.exists(os.path.join(BENCHMARKS, a, "__init__.py"))] == []


def _path_edits_and_sibling_imports(area: str, path: str) -> list[str]:
    siblings = {f[:-3] for f in os.listdir(os.path.dirname(path)) if f.endswith(".py")}
    problems = []  # (line, text)
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and ast.unparse(node.func.value) == "sys.path"
        ):
            problems.append((node.lineno, f"{path}:{node.lineno}: sys.path.{node.func.attr}"))
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.level == 0
            else []
        )
        problems += [
            (node.lineno, f"{path}:{node.lineno}: `import {n}`: write `from benchmarks.{area} import {n}`")
            for n in names
            if n.split(".")[0] in siblings
        ]
    return [text for _, text in sorted(problems)]


def test_no_path_edits_and_siblings_imported_through_the_package():
    problems = [p for area, path in _sources() for p in _path_edits_and_sibling_imports(area, path)]
    assert problems == []


def test_the_checker_sees_a_path_edit_and_a_bare_sibling_import(tmp_path):
    (tmp_path / "helper.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("import sys\nsys.path.insert(0, '.')\nimport helper\nfrom helper import X\n")
    problems = _path_edits_and_sibling_imports("quality", str(script))
    assert len(problems) == 3 and "sys.path.insert" in problems[0]
    assert "from benchmarks.quality import helper" in problems[1]


def test_a_script_that_imports_a_sibling_runs_as_a_module_from_the_root():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.train.variants", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--variants" in out.stdout
