"""Every malformed input of benchmarks/reliability.py ends in one clear line, a non-zero exit,
no traceback and no changed file (in-process here; the benchmark also runs them as processes).
"""

from __future__ import annotations

import json

import pytest

from benchmarks.reliability import bad_inputs, build_workspace, check_case

CASES = bad_inputs()
#: Known-unhandled cases (see BadInput.known) are expected failures until physrnn handles them.
PARAMS = [pytest.param(c, id=c.name, marks=pytest.mark.xfail(reason=c.known, strict=False))
          if c.known else pytest.param(c, id=c.name) for c in CASES]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("reliability") / "template")


def test_there_are_at_least_100_distinct_cases():
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.argv for c in CASES}) == len(CASES)
    generated = [c for c in CASES if c.name.startswith("hypothesis ")]
    assert 20 <= len(generated) <= 30
    assert any(c.forbidden for c in CASES)


def test_generated_cases_are_the_same_on_every_call():
    from benchmarks.bad_inputs_cases import generate_configs

    for kind in ("vmc", "train"):
        first, second = generate_configs(kind), generate_configs(kind)
        assert [(g.name, g.text) for g in first] == [(g.name, g.text) for g in second]
        assert len({(g.section, g.key) for g in first}) == len(first) >= 10


def test_generated_values_cannot_be_valid():
    """Every generated value is rejected by the loader, and the oracle that picks them skips
    values a key can take."""
    import tomllib

    from benchmarks.bad_inputs_cases import generated_configs, surely_invalid
    from physrnn.config import from_dict
    from physrnn.errors import ConfigError
    from physrnn.train.config import TrainRunConfig
    from physrnn.vmc.config import VMCRunConfig

    for g in generated_configs():
        cls = VMCRunConfig if g.kind == "vmc" else TrainRunConfig
        with pytest.raises(ConfigError, match=f"{g.section}.{g.key}"):
            from_dict(cls, tomllib.loads(g.text))
    assert not surely_invalid("vmc", "n_samples", int, 64)
    assert surely_invalid("vmc", "n_samples", int, 1)
    assert surely_invalid("vmc", "lr", float, float("inf"))
    assert surely_invalid("run", "threads", int, 2**63)
    assert surely_invalid("model", "dropout", float, 1.0)


def test_a_payload_that_ran_is_not_handled(workspace, tmp_path):
    from benchmarks.bad_inputs_cases import BadInput

    case = BadInput("payload check", ("data", "info", "data.h5"), "data.h5",
                    forbidden=("data.h5",))  # exists after the (valid) command
    row = check_case(case, workspace, tmp_path, in_process=True)
    assert not row["handled"] and "payload ran" in row["problems"]


@pytest.mark.parametrize("case", PARAMS)
def test_bad_input_is_handled(case, workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("PHYSRNN_DEBUG", raising=False)
    row = check_case(case, workspace, tmp_path, in_process=True)
    assert row["handled"], f"{row['problems']}\n{row['stderr']}"
    assert row["names_culprit"], f"expected {case.expect!r} in: {row['message']}"


def test_debug_variable_shows_the_traceback(workspace, tmp_path, monkeypatch):
    from benchmarks.reliability import run_in_process

    monkeypatch.chdir(workspace)
    monkeypatch.setenv("PHYSRNN_DEBUG", "1")
    code, err = run_in_process(["vmc", "cfg/unknown_key.toml", "--out", str(tmp_path / "o")])
    assert code != 0 and "Traceback" in err and "ConfigError" in err


def test_resume_removes_only_the_temporaries_of_a_killed_writer(tmp_path):
    from physrnn.runs.records import prepare_output_dir, write_summary

    run = tmp_path / "run"
    write_summary(run / "summary.json", {"status": "interrupted"})
    stale = run / ".checkpoint.pt.k3x_9abz.tmp"  # what atomic_path leaves after a kill -9
    stale.write_bytes(b"half a checkpoint")
    keep = [run / ".hidden", run / "notes.tmp", run / "summary.json"]
    for p in keep[:2]:
        p.write_text("mine")
    prepare_output_dir(run, resume=True)
    assert not stale.exists() and all(p.exists() for p in keep)


def test_data_info_shallow_skips_the_value_check(workspace, monkeypatch, capsys):
    from physrnn.cli import main

    monkeypatch.chdir(workspace)
    assert main(["data", "info", "nan.h5"]) == 2
    assert "trajectory 1, time index 10" in capsys.readouterr().err
    assert main(["data", "info", "nan.h5", "--shallow"]) == 0


@pytest.mark.slow
def test_reliability_benchmark_kills_and_json(tmp_path):
    from benchmarks.reliability import main

    out = tmp_path / "r.json"
    rc = main(["--quick", "--kills", "3", "--epochs", "12", "--steps", "60", "--json",
               str(out)])
    payload = json.loads(out.read_text())
    unhandled = {r["case"] for r in payload["rows"] if not r["handled"]}
    assert unhandled <= {c.name for c in CASES if c.known}  # only the known cases fail
    assert rc == (1 if unhandled else 0)
    for key in ("bad_inputs_tried", "bad_inputs_handled", "kills", "kills_survived",
                "corruptions", "vmc_kills", "vmc_kills_survived", "vmc_corruptions",
                "vmc_final_params_equal"):
        assert key in payload
    assert payload["bad_inputs_handled"] == payload["bad_inputs_tried"] - len(unhandled)
    assert payload["bad_inputs_tried"] >= 100
    assert payload["corruptions"] == 0 and payload["final_params_equal"]
    assert payload["vmc_corruptions"] == 0 and payload["vmc_final_params_equal"]
    assert payload["vmc_kills_survived"] == payload["vmc_kills"] >= 1
