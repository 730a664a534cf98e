"""The package's shape: the core is small and stands alone, the kernels plug in at one place, no import cycles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "paddle_dcgan"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports, anywhere in it (inside functions too), as dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("paddle_dcgan")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("paddle_dcgan"):
                continue
            for alias in node.names:  # "from package import module" imports the module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return {m for m in found if m in MODULES}


FILES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
MODULES = set(FILES)
GRAPH = {name: _imports(path) for name, path in FILES.items()}


def _package_of(module: str) -> str:
    return module if FILES[module].name == "__init__.py" else module.rpartition(".")[0]


def test_no_module_imports_itself_through_others():
    """Depth-first search for a cycle among the package's modules (a package's __init__ that only holds a
    docstring or re-exports its own modules does not count as a step back)."""
    def edges(module):
        # importing paddle_dcgan.a.b runs paddle_dcgan/a/__init__.py first: an edge to it too
        out = set()
        for target in GRAPH[module]:
            out.add(target)
            parent = target.rpartition(".")[0]
            if parent in MODULES and parent != _package_of(module) and parent != "paddle_dcgan":
                out.add(parent)
        return out

    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(edges(module)):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_core_is_the_dcgan_alone():
    """models, steps, loop: at most 3 files and 400 lines, importing nothing of the package but its config."""
    core = sorted((PACKAGE / "core").glob("*.py"))
    files = [p for p in core if p.name != "__init__.py"]
    assert [p.name for p in files] == ["loop.py", "models.py", "steps.py"]
    assert sum(len(p.read_text().splitlines()) for p in files) <= 400
    for path in core:
        outside = {m for m in GRAPH[_module_name(path)] if not m.startswith("paddle_dcgan.core")}
        assert outside <= {"paddle_dcgan.config"}, (path.name, outside)
        words = set(re.findall(r"[a-z]+", path.read_text().lower()))
        machinery = {"onednn", "shard", "shards", "dataparallel", "amp", "autocast", "scaler", "diverged", "divergence",
                     "lock", "tuning", "kernels"}
        assert not words & machinery, (path.name, words & machinery)


def test_the_kernels_plug_in_at_one_place():
    """Only the training run imports the kernels; deleting paddle_dcgan/kernels and that call leaves the rest."""
    users = sorted(m for m, targets in GRAPH.items() if not m.startswith("paddle_dcgan.kernels")
                   and any(t.startswith("paddle_dcgan.kernels") for t in targets))
    assert users == ["paddle_dcgan.training.run"]
    run = FILES["paddle_dcgan.training.run"].read_text()
    assert run.count("kernels.apply(") == 1


def test_the_library_never_configures_logging_itself():
    """Log handlers are the tools' business (cli.run) and a notebook's (paddle_dcgan.setup_logging())."""
    def calls_it(path):
        return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == "setup_logging"
                   for n in ast.walk(ast.parse(path.read_text())))

    callers = sorted(m for m, p in FILES.items() if calls_it(p) and m != "paddle_dcgan.logs")
    assert callers == ["paddle_dcgan.cli"]
