"""The public API: every exported name resolves, ``import physrnn`` stays cheap, and the README
tour uses only public names (``physrnn.X``, ``physrnn.sub.X``) and runs.

A public path goes through at most one subpackage of :data:`PUBLIC_PACKAGES`:
``physrnn.VMC``, ``physrnn.vmc.SRStep``, ``physrnn.baselines.quantum.tfim_chain_energy`` or a
module itself (``physrnn.nn.diagnostics``); ``physrnn.vmc.sr.SRStep`` is not one.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: Packages whose ``__all__`` is the public API (the names a user types).
PUBLIC_PACKAGES = (
    "physrnn",
    "physrnn.baselines",
    "physrnn.baselines.forecast",
    "physrnn.baselines.quantum",
    "physrnn.data",
    "physrnn.distributed",
    "physrnn.metrics",
    "physrnn.nn",
    "physrnn.spins",
    "physrnn.systems",
    "physrnn.train",
    "physrnn.vmc",
    "physrnn.wavefunctions",
)

#: What importing a package must not load (checked in a fresh interpreter).
NOT_LOADED = {
    "physrnn": ("torch", "netket", "jax", "physrnn.runs", "physrnn.vmc", "physrnn.data"),
    "physrnn.metrics": ("torch", "netket", "jax"),
    "physrnn.systems": ("torch", "netket", "jax"),
    "physrnn.spins": ("netket", "jax"),
    "physrnn.data": ("torch", "netket", "jax"),
    "physrnn.baselines": ("torch", "netket", "jax"),
}


# ------------------------------------------------------------------------------ __all__
@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), f"{package}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names that do not resolve: {missing}"
    hidden = sorted(set(names) - set(dir(module)))
    assert not hidden, f"dir({package}) lacks {hidden}"
    namespace: dict = {}
    exec(f"from {package} import *", namespace)
    assert set(names) <= set(namespace)


def test_top_level_names_are_the_subpackages_objects():
    """``physrnn.X`` is the very object of the subpackage it comes from, not a copy."""
    import physrnn

    assert physrnn.VMC is physrnn.vmc.VMC
    assert physrnn.SRStep is physrnn.vmc.SRStep
    assert physrnn.tfim_chain is physrnn.spins.tfim_chain
    assert physrnn.RNNWavefunction1D is physrnn.wavefunctions.RNNWavefunction1D
    assert physrnn.Trainer is physrnn.train.Trainer
    assert physrnn.read_dataset is physrnn.data.read_dataset
    assert physrnn.valid_prediction_time is physrnn.metrics.valid_prediction_time
    assert physrnn.baselines.tfim_chain_energy is physrnn.baselines.quantum.tfim_chain_energy
    assert callable(physrnn.simulate) and callable(physrnn.run_vmc_job)
    with pytest.raises(AttributeError, match="no_such_name"):
        physrnn.no_such_name  # noqa: B018


def test_library_packages_load_lazily_only_from_inside_themselves():
    """Only the top level may point at the application tier (``physrnn.runs``)."""
    for package in PUBLIC_PACKAGES[1:]:
        module = importlib.import_module(package)
        for target in getattr(module, "LAZY_NAMES", {}).values():
            full = target if target.startswith("physrnn") else f"{package}.{target}"
            assert full.startswith(package), (package, target)


# ------------------------------------------------------------------------------ import cost
@pytest.mark.parametrize("package", sorted(NOT_LOADED))
def test_import_stays_cheap(package):
    code = (f"import sys, {package}; dir({package}); "
            f"print(' '.join(m for m in {NOT_LOADED[package]!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import {package} loaded: {proc.stdout.strip()}"


# ------------------------------------------------------------------------------ README paths
def readme_blocks(lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [m.group(2) for m in re.finditer(r"^( *)```" + lang + r"\n(.*?)^\1```", text,
                                            flags=re.M | re.S)]


def _dedent(block: str) -> str:
    lines = block.splitlines()
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines) + "\n"


def check_public_path(path: str) -> None:
    """Raise AssertionError unless ``path`` (dotted, from ``physrnn``) is public and resolves."""
    parts = path.split(".")
    assert parts[0] == "physrnn", path
    module = importlib.import_module("physrnn")
    depth = 1
    obj: object = module
    for depth, part in enumerate(parts[1:], start=2):
        name = ".".join(parts[:depth])
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(name)
            except ImportError:
                raise AssertionError(f"{path}: {name} does not resolve") from None
        if not isinstance(obj, types.ModuleType):
            owner = ".".join(parts[: depth - 1])
            assert owner in PUBLIC_PACKAGES, (
                f"{path}: {part} is taken from {owner}, which is not a public package; "
                f"use the name its subpackage exports")
            return
    # the path is a module: it must sit directly in a public package
    parent = ".".join(parts[:-1])
    assert len(parts) == 1 or parent in PUBLIC_PACKAGES, f"{path}: module below {parent}"


def dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def paths_in_block(code: str) -> list[str]:
    """Every ``physrnn...`` path a python block uses (imports and attribute chains)."""
    tree = ast.parse(code)
    inner: set[int] = set()  # attribute nodes that are part of a longer chain
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner.add(id(node.value))
    aliases: dict[str, str] = {}
    paths: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "physrnn":
                    paths.append(a.name)
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases["physrnn"] = "physrnn"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("physrnn"):
            paths.append(node.module)
            for a in node.names:
                paths.append(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = dotted(node)
            if chain is None:
                continue
            head, _, rest = chain.partition(".")
            if head in aliases:
                paths.append(f"{aliases[head]}.{rest}")
    return paths


def test_readme_python_uses_only_public_paths():
    blocks = readme_blocks("python")
    assert len(blocks) >= 5
    bad = []
    for block in blocks:
        for path in paths_in_block(_dedent(block)):
            try:
                check_public_path(path)
            except AssertionError as exc:
                bad.append(str(exc))
    assert not bad, "\n".join(bad)


def test_readme_prose_names_only_public_paths():
    """Inline ``physrnn.a.b`` references (prose, shell blocks) resolve and are public."""
    text = README.read_text(encoding="utf-8")
    found = set(re.findall(r"(?<![\w./-])physrnn(?:\.[A-Za-z_]\w*)+", text))
    assert "physrnn.SRStep" in found
    bad = []
    for path in sorted(found):
        try:
            check_public_path(path)
        except AssertionError as exc:
            bad.append(str(exc))
    assert not bad, "\n".join(bad)


def test_the_path_checker_rejects_deep_and_unknown_paths():
    check_public_path("physrnn.vmc.SRStep")
    check_public_path("physrnn.baselines.quantum.tfim_chain_energy")
    check_public_path("physrnn.nn.diagnostics")
    check_public_path("physrnn.VMC.run")
    for bad in ("physrnn.vmc.sr.SRStep", "physrnn.runs.collect.read_table_h5",
                "physrnn.vmc.NoSuchThing", "physrnn.train.readout.ReadoutFit"):
        with pytest.raises(AssertionError):
            check_public_path(bad)
    assert paths_in_block("import physrnn\nx = physrnn.vmc.sr.SRStep()\n") == [
        "physrnn", "physrnn.vmc.sr.SRStep"]


# ------------------------------------------------------------------------------ README runs
#: README python blocks run here, by a phrase that identifies each, with the substitutions that
#: make them take seconds (each must occur in its block). Blocks not run say why.
RUN = {
    "physrnn.tfim_chain(20": [("vmc.run(1000)", "vmc.run(2)"),
                              ("vmc.estimate(20_000)", "vmc.estimate(256)")],
    "physrnn.heisenberg_square(4, 4": [],
    'physrnn.get_system("lorenz63")': [("n_traj=32", "n_traj=4"), ("t_final=100.0", "t_final=20.0"),
                                       ("workers=2", "workers=1")],
    "init_distributed(": [],
}
NOT_RUN = {
    "physrnn.run_train_job(": "trains several forecasters for minutes (tests/runs/test_train.py)",
    "select_readout(model, train_z": "a fragment: needs a trained model and its data",
}


def _which(block: str) -> str:
    keys = [k for k in (*RUN, *NOT_RUN) if k in block]
    assert len(keys) == 1, f"README block matches {keys}; add it to RUN or NOT_RUN:\n{block}"
    return keys[0]


def test_every_readme_block_is_run_or_says_why_not():
    seen = {_which(_dedent(b)) for b in readme_blocks("python")}
    assert seen == set(RUN) | set(NOT_RUN), "a RUN / NOT_RUN entry matches no README block"


@pytest.mark.parametrize("key", list(RUN))
def test_readme_block_runs(key, tmp_path):
    (block,) = [b for b in map(_dedent, readme_blocks("python")) if _which(b) == key]
    for old, new in RUN[key]:
        assert old in block, f"substitution {old!r} no longer matches the README"
        block = block.replace(old, new)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
