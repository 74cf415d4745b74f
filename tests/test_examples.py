"""Every shipped example config loads strictly with the config class of its command."""

from __future__ import annotations

from pathlib import Path

import pytest

from physrnn.config import VMCRunConfig, load_config
from physrnn.train.config import TrainRunConfig

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads(path):
    cls = TrainRunConfig if path.stem.startswith("forecast") else VMCRunConfig
    cfg = load_config(path, cls=cls)
    assert isinstance(cfg, cls)
    if cls is TrainRunConfig and cfg.data.card:
        assert (path.parent.parent / cfg.data.card).is_file()


def test_examples_present():
    assert len(EXAMPLES) >= 3
