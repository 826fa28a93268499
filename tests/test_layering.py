"""The project's dependency rules (README, "Layout"), checked on the source's import statements.

- `emogs/` (the library) never imports `preprocess`, `demo_actor` or `tools`;
- `preprocess/` (stage runners + CLI) never imports `tools` or `demo_actor`;
- rendering never needs training: `emogs/avatar`, `emogs/viewer`, `emogs/stream`, `tools/render.py`
  and `tools/viewer.py` never import `emogs.train`;
- a tool never imports another tool nor patches `sys.path`, and a non-benchmark tool is a thin CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of every module `path` imports (top-level or inside functions), with
    relative imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


def _violations(files, forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    bad = []
    for f in files:
        for mod in sorted(imported_modules(f, root)):
            if any(mod == p or mod.startswith(p + ".") for p in forbidden):
                bad.append(f"{f.relative_to(root)} imports {mod}")
    return bad


def _py(*folders: str) -> list[Path]:
    out = []
    for folder in folders:
        p = ROOT / folder
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def test_the_checker_sees_imports(tmp_path):
    """The rules below can fail: a file that breaks them is reported (also a lazy, relative import)."""
    f = tmp_path / "emogs" / "avatar" / "probe.py"
    f.parent.mkdir(parents=True)
    f.write_text("def g():\n    from ..train import trainer\n    import preprocess.stages\n")
    assert _violations([f], ("emogs.train",), tmp_path) == [
        "emogs/avatar/probe.py imports emogs.train", "emogs/avatar/probe.py imports emogs.train.trainer"]
    assert _violations([f], ("preprocess",), tmp_path) == ["emogs/avatar/probe.py imports preprocess.stages"]


def test_library_never_imports_its_consumers():
    assert _violations(_py("emogs"), ("preprocess", "demo_actor", "tools", "emogs_tools")) == []


def test_preprocess_never_imports_tools_or_the_demo_actor():
    assert _violations(_py("preprocess"), ("tools", "emogs_tools", "demo_actor")) == []


@pytest.mark.parametrize("where", ["emogs/avatar", "emogs/viewer", "emogs/stream", "tools/render.py",
                                   "tools/viewer.py"])
def test_rendering_never_imports_training(where):
    assert _violations(_py(where), ("emogs.train",)) == []


def test_tools_are_thin_and_independent():
    tools = _py("tools")
    assert _violations(tools, ("tools", "emogs_tools")) == []
    for f in tools:
        text = f.read_text()
        assert "sys.path" not in text, f"{f.name} patches sys.path (install the package: pip install -e .)"
        if not f.name.startswith("bench_") and f.name != "__init__.py":
            lines = len(text.splitlines())
            assert lines <= 200, f"{f.name} has {lines} lines: move its library part into emogs/"
