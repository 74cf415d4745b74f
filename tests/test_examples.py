"""Every shipped example config loads strictly with the config class of its command, and
``physrnn show-config`` prints it (the kind told by its sections) as TOML that loads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from physrnn.baselines.quantum.config import QMCRunConfig
from physrnn.cli import main
from physrnn.config import load_config
from physrnn.runs.registry import kind_of
from physrnn.train.config import TrainRunConfig
from physrnn.vmc.config import VMCRunConfig

CLASSES = {"train": TrainRunConfig, "vmc": VMCRunConfig, "qmc": QMCRunConfig}

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads(path):
    cls = CLASSES[kind_of(path)]
    cfg = load_config(path, cls=cls)
    assert isinstance(cfg, cls)
    if cls is TrainRunConfig and cfg.data.card:
        assert (path.parent.parent / cfg.data.card).is_file()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_show_config_prints_every_example(path, tmp_path, capsys, monkeypatch):
    """The kind comes from the file's sections; the printed TOML loads back to the same
    config (``show-config`` of a forecasting config used to fail with "unknown key 'data'")."""
    monkeypatch.chdir(path.parent.parent)
    kind = kind_of(path)
    cls = CLASSES[kind]
    assert main(["show-config", str(path)]) == 0
    text = capsys.readouterr().out
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(text)
    assert load_config(resolved, cls=cls) == load_config(path, cls=cls)
    assert main(["show-config", str(path), "--kind", kind]) == 0
    assert capsys.readouterr().out == text


def test_examples_present():
    assert len(EXAMPLES) >= 3
