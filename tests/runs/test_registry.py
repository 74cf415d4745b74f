"""The registry of run kinds: every kind has a config, a job, a command and documented keys,
and the command line, sweeps, collect and show-config take their kinds from it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from physrnn.cli import main
from physrnn.errors import ConfigError
from physrnn.runs import collect, sweep
from physrnn.runs.commands import KIND_COMMANDS, KIND_OPTIONS
from physrnn.runs.registry import (
    RUN_KINDS,
    config_kinds,
    config_sections,
    get_kind,
    kind_of,
    load_run_config,
)
from physrnn.train.config import TrainRunConfig
from physrnn.vmc.config import VMCRunConfig

REPO = Path(__file__).resolve().parents[2]


def test_every_kind_is_complete():
    assert list(RUN_KINDS) == ["vmc", "qmc", "train", "memory"]
    for name, kind in RUN_KINDS.items():
        assert kind.name == name and kind.help and kind.description and kind.outputs
        assert callable(kind.job) and kind.job.__name__ == kind.job_path.split(":")[1]
        assert name in KIND_COMMANDS, name
        assert kind.config_file or name in KIND_OPTIONS, name
        assert kind.config_class() == kind.config_class()  # defaults are a valid config
        assert kind.config_sections == tuple(f.name for f in fields(kind.config_class))
        assert kind.sections and "run" not in kind.sections
        assert "summary.json keys:" in kind.summary_help()
        assert all(k in kind.summary_help() for k in kind.summary_keys)


def test_kinds_share_only_the_system_section_and_each_has_its_own():
    kinds = [k for k in RUN_KINDS.values() if k.config_file]
    for i, a in enumerate(kinds):
        others = frozenset().union(*(k.sections for k in kinds if k is not a))
        assert a.sections - others, a.name       # a section that tells this kind apart
        for b in kinds[i + 1:]:
            assert a.sections & b.sections <= {"system"}, (a.name, b.name)


def test_main_help_lists_every_kind(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name, kind in RUN_KINDS.items():
        assert f"    {name} " in out and kind.help in " ".join(out.split()), name
    assert ", ".join(RUN_KINDS) in " ".join(out.split())


@pytest.mark.parametrize("name", list(RUN_KINDS))
def test_kind_help_documents_every_summary_key(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for key in RUN_KINDS[name].summary_keys:
        assert f"  {key} " in out, key


def test_kind_of_a_file_from_its_sections(tmp_path):
    assert kind_of(REPO / "examples" / "forecast_lorenz63.toml") == "train"
    assert kind_of(REPO / "examples" / "heisenberg_chain.toml") == "vmc"
    run_only = tmp_path / "run.toml"
    run_only.write_text("[run]\nseed = 3\n")
    assert kind_of(run_only, ["vmc.lr"]) == "vmc"
    assert kind_of(run_only, default="vmc") == "vmc"
    with pytest.raises(ConfigError, match="cannot tell whether this is a vmc or a qmc or a "
                                          "train config"):
        kind_of(run_only)
    system_only = tmp_path / "system.toml"
    system_only.write_text("[system]\nn_sites = 8\n")
    assert kind_of(system_only) == "vmc"             # the section both share: VMC, as before
    assert kind_of(system_only, ["qmc.sweeps"]) == "qmc"
    both = tmp_path / "both.toml"
    both.write_text("[vmc]\nn_steps = 3\n[train]\nepochs = 2\n")
    with pytest.raises(ConfigError, match="pass --kind"):
        kind_of(both, default="vmc")


def test_load_run_config_and_unknown_kinds(tmp_path):
    kind, config = load_run_config(REPO / "examples" / "forecast_lorenz63.toml",
                                   overrides=["train.epochs=2"])
    assert kind.name == "train" and isinstance(config, TrainRunConfig)
    assert config.train.epochs == 2
    kind, config = load_run_config(None, overrides=["vmc.lr=0.5"])
    assert isinstance(config, VMCRunConfig) and config.vmc.lr == 0.5
    with pytest.raises(ConfigError, match="unknown run kind 'dmrg'; choose vmc, qmc, train, "
                                          "memory"):
        get_kind("dmrg")


def test_sweep_and_collect_read_the_registry():
    assert sweep.KINDS == tuple(config_kinds()) == ("qmc", "train", "vmc")
    assert set(collect._CONFIG_SECTIONS) == set(config_sections())
    for kind in RUN_KINDS.values():
        assert {f.name for f in fields(kind.config_class)} <= set(config_sections())


def test_show_config_of_each_kind(tmp_path, capsys):
    assert main(["show-config", "--kind", "memory", "--set", "memory.steps=7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[memory]\n") and "steps = 7" in out
    assert main(["show-config"]) == 0  # neither file nor --kind: the vmc defaults, as before
    assert capsys.readouterr().out.startswith("[system]\n")
    both = tmp_path / "both.toml"
    both.write_text("[vmc]\nn_steps = 3\n[train]\nepochs = 2\n")
    assert main(["show-config", str(both)]) == 2
    assert "pass --kind" in capsys.readouterr().err
