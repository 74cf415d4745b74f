"""The package's layout rules (docs/architecture.md), checked by walking the source's AST.

* no ``_private`` name is imported from another physrnn module, nor read off one as an
  attribute (``module._name``);
* no import circle between physrnn modules (imports inside functions count too);
* the library tiers never import the application tier (``physrnn.runs``, ``physrnn.cli``,
  ``physrnn.launch``), and each tier imports only tiers below it or its own;
* no module is much over 500 lines;
* ``ruff check .`` is clean.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "physrnn"
APPLICATION = ("physrnn.runs", "physrnn.cli", "physrnn.launch")
#: Tier of each subpackage (docs/architecture.md); every other top-level module is tier 1.
TIERS = {"physrnn.cli": 5, "physrnn.launch": 5, "physrnn.runs": 4,
         "physrnn.vmc": 3, "physrnn.train": 3, "physrnn.baselines": 3, "physrnn.metrics": 3,
         "physrnn.wavefunctions": 2, "physrnn.nn": 2, "physrnn.data": 2, "physrnn.spins": 2,
         "physrnn.systems": 2}
MAX_LINES = 520


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str) -> tuple[set[str], list[str]]:
    """(physrnn modules imported by ``module``, private names it takes from other modules)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    private: list[str] = []
    aliases: dict[str, str] = {}  # local name -> physrnn module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            if not source.startswith("physrnn"):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:
                    targets.add(full)
                    aliases[alias.asname or alias.name] = full
                elif source in MODULES:
                    targets.add(source)
                if _is_private(alias.name) and source != module:
                    private.append(f"{path.relative_to(REPO)}:{node.lineno}: "
                                   f"from {source} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    targets.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            private.append(f"{path.relative_to(REPO)}:{node.lineno}: "
                           f"{node.value.id}.{node.attr} ({aliases[node.value.id]})")
    targets.discard(module)
    return targets, private


GRAPH = {m: _imports(m) for m in MODULES}


def _parents(module: str) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first: those edges are
    implied and not counted as circles with the module's own package."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _cycles() -> list[list[str]]:
    edges = {m: {t for t in GRAPH[m][0] if t not in _parents(m)} for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_private_name_crosses_a_module():
    crossings = [line for m in MODULES for line in GRAPH[m][1]]
    assert not crossings, "private names imported from other modules:\n" + "\n".join(crossings)


def test_no_import_circle():
    cycles = _cycles()
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_library_never_imports_the_application_tier():
    def application(name: str) -> bool:
        return any(name == a or name.startswith(a + ".") for a in APPLICATION)

    bad = [f"{m} imports {t}" for m in MODULES if not application(m)
           for t in sorted(GRAPH[m][0]) if application(t)]
    assert not bad, "library modules importing the application tier:\n" + "\n".join(bad)


def _tier(module: str) -> int:
    return TIERS.get(".".join(module.split(".")[:2]), 1)


def test_each_tier_imports_only_tiers_below_or_its_own():
    # ``physrnn`` itself (the lazy facade) is imported by lower tiers for ``__version__`` only
    bad = [f"{m} (tier {_tier(m)}) imports {t} (tier {_tier(t)})" for m in MODULES
           if m != "physrnn" for t in sorted(GRAPH[m][0])
           if t != "physrnn" and _tier(t) > _tier(m)]
    assert not bad, "imports that go up a tier:\n" + "\n".join(bad)


def test_modules_are_short():
    long = [f"{p.relative_to(REPO)}: {n} lines" for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_checks_see_a_planted_violation(tmp_path):
    """The walker finds a private import and a circle when they are there."""
    planted = ast.parse("from physrnn.io import _helper\nimport physrnn.errors as e\ne._x\n")
    names = [a.name for n in ast.walk(planted) if isinstance(n, ast.ImportFrom)
             for a in n.names if _is_private(a.name)]
    assert names == ["_helper"]
    assert _is_private("_x") and not _is_private("__all__")
    assert {"physrnn.errors"} <= GRAPH["physrnn.io"][0]


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
