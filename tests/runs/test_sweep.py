"""physrnn sweep / collect: grid expansion, names, errors, SLURM script, a real 2-run sweep."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from physrnn.cli import main
from physrnn.errors import ConfigError, OutputExistsError, RecordError
from physrnn.runs.collect import collect_rows, read_table_h5, write_table_h5
from physrnn.runs.sweep import (
    ARRAY_TEMPLATE,
    expand_grid,
    infer_kind,
    parse_grid,
    plan_sweep,
    render_slurm,
    run_names,
    split_values,
    write_sweep,
)

REPO = Path(__file__).resolve().parents[2]
from tests.runs.test_train import SMALL  # noqa: E402

VMC_TOML = "[system]\nmodel = \"tfim\"\nn_sites = 6\n[vmc]\nn_steps = 4\n"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)


def _toml(tmp_path, text=VMC_TOML, name="c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --------------------------------------------------------------------------- the grid
def test_grid_expansion_order_and_value_splitting():
    grid = parse_grid(["vmc.lr=1e-3,3e-3", "run.seed=0,1,2",
                       'data.card_overrides=["a=1", "b=2"],[]'])
    assert grid["data.card_overrides"] == ['["a=1", "b=2"]', "[]"]
    combos = expand_grid(grid)
    assert len(combos) == 12
    assert combos[0] == {"vmc.lr": "1e-3", "run.seed": "0",
                         "data.card_overrides": '["a=1", "b=2"]'}
    assert [c["run.seed"] for c in combos[:6]] == ["0", "0", "1", "1", "2", "2"]
    assert split_values('"x,y",z') == ['"x,y"', "z"]


def test_run_names_are_readable_sanitised_and_unique():
    names = run_names(expand_grid(parse_grid(["vmc.lr=1e-3,3e-3", "run.seed=0,1"])))
    assert names == ["lr-1e-3_seed-0", "lr-1e-3_seed-1", "lr-3e-3_seed-0", "lr-3e-3_seed-1"]
    # two keys with the same last part keep their sections; odd characters become _
    names = run_names(expand_grid(parse_grid(["vmc.lr=1", "train.lr=2",
                                              'system.boundary="open",periodic'])))
    assert names == ["vmc.lr-1_train.lr-2_boundary-open", "vmc.lr-1_train.lr-2_boundary-periodic"]
    assert run_names([{"a.b": '["x/y z"]'}]) == ["b-x_y_z"]
    # long names are cut and made unique by a hash; clashes after sanitising get an index
    long = run_names([{"data.card_overrides": '["simulation.n_traj=' + "9" * 90 + '"]'}])[0]
    assert len(long) <= 80
    assert run_names([{"a.b": "x y"}, {"a.b": "x/y"}]) == ["b-x_y-000", "b-x_y-001"]


@pytest.mark.parametrize("items, match", [
    ([], "at least one --grid"),
    (["vmc.lr"], "expected section.key=v1,v2"),
    (["lr=1,2"], "must be section.key"),
    (["vmc.lr="], "empty value"),
    (["vmc.lr=1,,2"], "empty value"),
    (["vmc.lr=1,2", "vmc.lr=3"], "given twice"),
    (["vmc.lr=1,1"], "repeated"),
    (["vmc.n_steps=[1,2"], "unbalanced"),
])
def test_malformed_grids(items, match):
    with pytest.raises(ConfigError, match=match):
        parse_grid(items)


def test_bad_grid_keys_and_values_get_the_loaders_error(tmp_path):
    cfg = _toml(tmp_path)
    with pytest.raises(ConfigError, match=r"--grid vmc\.learn_rate=1.*unknown key "
                                          r"'vmc\.learn_rate'"):
        plan_sweep(cfg, ["vmc.learn_rate=1,2"], tmp_path / "s")
    with pytest.raises(ConfigError, match=r"--grid system\.n_sites=ten.*must be an integer"):
        plan_sweep(cfg, ["system.n_sites=6,ten"], tmp_path / "s")
    with pytest.raises(ConfigError, match=r"'system\.n_sites': must be >= 2"):
        plan_sweep(cfg, ["system.n_sites=-1"], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_kind_is_inferred_from_sections(tmp_path):
    assert infer_kind(_toml(tmp_path)) == "vmc"
    assert infer_kind(_toml(tmp_path, "[data]\ncard = 'x'\n")) == "train"
    assert infer_kind(_toml(tmp_path, "[run]\nseed = 1\n"), ["train.lr"]) == "train"
    with pytest.raises(ConfigError, match="--kind"):
        infer_kind(_toml(tmp_path, "[run]\nseed = 1\n"))


def test_dry_run_lists_runs_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", str(_toml(tmp_path)), "--grid", "vmc.lr=1e-3,3e-3",
                 "--grid", "run.seed=0,1", "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "4 vmc runs" in printed and "lr-3e-3_seed-1" in printed
    assert not out.exists()


def test_changed_config_is_not_silently_rerun(tmp_path):
    cfg = _toml(tmp_path)
    write_sweep(plan_sweep(cfg, ["vmc.lr=1e-3"], tmp_path / "s"))
    cfg.write_text(VMC_TOML.replace("n_steps = 4", "n_steps = 5"))
    changed = plan_sweep(cfg, ["vmc.lr=1e-3"], tmp_path / "s")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_sweep(changed)
    write_sweep(changed, overwrite=True)
    assert "n_steps = 5" in (tmp_path / "s" / "lr-1e-3" / "config.toml").read_text()


@pytest.mark.parametrize("content", [b"\x80\x04not json", b'{"format": "something-else"}'])
def test_a_foreign_sweep_json_is_never_replaced(tmp_path, content):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_bytes(content)
    plan = plan_sweep(_toml(tmp_path), ["vmc.lr=1e-3"], tmp_path / "s")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="not a physrnn sweep file"):
            write_sweep(plan, overwrite=overwrite)
    assert (tmp_path / "s" / "sweep.json").read_bytes() == content
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["sweep.json"]


# --------------------------------------------------------------------------- SLURM
def test_slurm_array_script_is_written(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", str(_toml(tmp_path)), "--grid", "vmc.lr=1e-3,3e-3",
                 "--grid", "run.seed=0,1", "--out", str(out), "--slurm",
                 "--max-parallel", "2"]) == 0
    script = (out / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0-3%2" in script and "{{" not in script
    assert "physrnn.cli vmc" in script and "scontrol requeue" in script
    runs = (out / "runs.txt").read_text().splitlines()
    assert len(runs) == 4 and all((Path(r) / "config.toml").is_file() for r in runs)
    assert not any((Path(r) / "summary.json").exists() for r in runs)  # nothing ran
    subprocess.run(["bash", "-n", str(out / "sweep.sbatch")], check=True)
    assert (REPO / "examples" / "slurm" / "array.sbatch").read_text() == ARRAY_TEMPLATE


def test_slurm_script_forwards_the_signal_and_requeues(tmp_path):
    """Run the array script with bash, a stand-in for python that exits 75 on SIGUSR1 (as
    physrnn does after its checkpoint) and a stand-in scontrol."""
    plan = plan_sweep(_toml(tmp_path), ["run.seed=0,1"], tmp_path / "s")
    write_sweep(plan)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(
        "#!/bin/bash\necho \"$@\" > \"$FAKE_DIR/args\"\n"
        "trap 'echo got-usr1 > \"$FAKE_DIR/signal\"; exit 75' USR1\n"
        "touch \"$FAKE_DIR/started\"\nwhile true; do sleep 0.05; done\n")
    (fake / "scontrol").write_text("#!/bin/bash\necho \"$@\" > \"$FAKE_DIR/scontrol\"\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    script = tmp_path / "s" / "sweep.sbatch"
    script.write_text(render_slurm(plan, python=str(fake / "python")))
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_DIR": str(fake),
           "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_JOB_ID": "77"}
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (fake / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGUSR1)  # what SLURM sends to the batch shell (B:USR1@...)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 75, (out, err)
    assert (fake / "signal").read_text().strip() == "got-usr1"
    assert (fake / "scontrol").read_text().split() == ["requeue", "77_1"]
    args = (fake / "args").read_text().split()
    assert args[:3] == ["-m", "physrnn.cli", "vmc"] and "--resume" in args
    assert args[args.index("--out") + 1] == str(plan.runs[1].directory.resolve()) or \
        args[args.index("--out") + 1] == str(plan.runs[1].directory)
    # a completed run is skipped without starting python
    (fake / "args").unlink()
    (plan.runs[0].directory / "summary.json").write_text('{\n  "status": "completed"\n}\n')
    done = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": "0"},
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and "skipped" in done.stdout
    assert not (fake / "args").exists()


# --------------------------------------------------------------------------- collect
def _fake_run(directory: Path, summary: dict, config: str) -> None:
    directory.mkdir(parents=True)
    (directory / "summary.json").write_text(json.dumps(summary))
    (directory / "config.toml").write_text(config)


def test_collect_flattens_types_and_differing_config(tmp_path, capsys):
    _fake_run(tmp_path / "s" / "a", {"status": "completed", "energy": -1.5, "steps": 3,
                                     "ok": True, "nested": {"x": 1}, "table": [1, 2]},
              "[vmc]\nlr = 0.1\nn_steps = 3\n")
    _fake_run(tmp_path / "s" / "b", {"status": "failed", "energy": None, "steps": 4,
                                     "ok": False, "extra": "e"},
              "[vmc]\nlr = 0.2\nn_steps = 3\n")
    (tmp_path / "s" / "c").mkdir()
    (tmp_path / "s" / "c" / "summary.json").write_text("{broken")
    with pytest.raises(RecordError, match=r"c/summary.json.*--skip-unreadable"):
        collect_rows([tmp_path / "s"])
    rows, columns, skipped = collect_rows([tmp_path / "s"], skip_unreadable=True)
    assert [r["run"] for r in rows] == ["a", "b"] and len(skipped) == 1
    assert columns[:3] == ["run", "path", "vmc.lr"]  # n_steps is the same: not a column
    assert "table" not in columns and "nested.x" in columns
    write_table_h5(tmp_path / "t.h5", rows, columns)
    table = read_table_h5(tmp_path / "t.h5")
    assert list(table) == columns
    assert table["steps"].dtype == np.int64 and table["ok"].dtype == bool
    assert np.isnan(table["energy"][1]) and table["energy"][0] == -1.5
    assert list(table["status"]) == ["completed", "failed"] and table["extra"][0] == ""
    np.testing.assert_array_equal(table["vmc.lr"], [0.1, 0.2])
    assert main(["collect", str(tmp_path / "empty-does-not-exist"), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "no such directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- a real sweep
@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    from physrnn.config import load_config
    from physrnn.data.cards import generate_from_card, load_card
    from physrnn.train.config import TrainRunConfig

    cfg = load_config(None, overrides=SMALL + ['data.card="datasets/lorenz63.toml"'],
                      cls=TrainRunConfig)
    card = load_card(REPO / cfg.data.card, overrides=list(cfg.data.card_overrides))
    return generate_from_card(card, tmp_path_factory.mktemp("data") / "data.h5",
                              progress=False)


def test_two_run_train_sweep_then_collect(tmp_path, capsys, data_file):
    cfg = _toml(tmp_path, f'[data]\npath = "{data_file}"\ncard = ""\n', "train.toml")
    sets = [a for s in SMALL[1:] + ["eval.baselines=[]", "eval.free_run_steps=0",
                                    "eval.n_test=1", "train.epochs=2", "run.threads=1"]
            for a in ("--set", s)]
    out = tmp_path / "sweep"
    args = ["sweep", str(cfg), "--grid", "model.hidden_size=4,6", "--out", str(out),
            "--jobs", "2", *sets]
    assert main(args) == 0, (out / "hidden_size-4" / "log.txt").read_text()
    printed = capsys.readouterr().out
    assert "2 train runs" in printed and printed.count("| completed") == 2
    for name in ("hidden_size-4", "hidden_size-6"):
        assert json.loads((out / name / "summary.json").read_text())["status"] == "completed"
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["kind"] == "train" and [r["name"] for r in sweep["runs"]] == [
        "hidden_size-4", "hidden_size-6"]
    # started again: nothing to do
    assert main(args) == 0
    assert capsys.readouterr().out.count("| skipped") == 2
    # collect
    table_csv, table_h5 = tmp_path / "t.csv", tmp_path / "t.h5"
    assert main(["collect", str(out), "--out", str(table_csv), "--h5", str(table_h5)]) == 0
    with open(table_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model.hidden_size"] for r in rows] == ["4", "6"]
    assert all(r["status"] == "completed" and r["epochs"] == "2" for r in rows)
    table = read_table_h5(table_h5)
    np.testing.assert_array_equal(table["model.hidden_size"], [4, 6])
    assert "hidden_size-4" in capsys.readouterr().out
    before = table_csv.read_bytes()
    assert main(["collect", str(out), "--out", str(table_csv)]) == 2  # no clobbering
    assert "--overwrite" in capsys.readouterr().err and table_csv.read_bytes() == before
    assert main(["collect", str(out), "--out", str(table_csv), "--overwrite"]) == 0


def test_a_failing_run_does_not_stop_the_sweep(tmp_path, capsys, data_file):
    """One run fails (its dataset is missing); the sweep reports it and exits 1."""
    cfg = _toml(tmp_path, '[data]\npath = "x.h5"\ncard = ""\n[train]\nepochs = 1\n', "t.toml")
    out = tmp_path / "sweep"
    code = main(["sweep", str(cfg), "--grid", f'data.path="{tmp_path / "missing.h5"}"',
                 "--out", str(out), "--set", "run.threads=1"])
    assert code == 1
    captured = capsys.readouterr()
    assert "| failed" in captured.out and "missing.h5" in captured.out
    assert "1 of 1 runs failed" in captured.err


@pytest.mark.slow
def test_sigterm_to_the_sweep_reaches_its_runs(tmp_path, capsys, data_file):
    """SIGTERM to the sweep process: passed on to the running run, which checkpoints and exits
    75; the sweep exits 75 and the next start of the same sweep continues the run."""
    import threading

    from physrnn.runs import preempt
    from physrnn.runs.sweep import run_sweep

    cfg = _toml(tmp_path, f'[data]\npath = "{data_file}"\ncard = ""\n', "train.toml")
    sets = SMALL[1:] + ["eval.baselines=[]", "eval.free_run_steps=0", "eval.n_test=1",
                        "train.epochs=400", "run.threads=1"]
    plan = plan_sweep(cfg, ["model.hidden_size=4"], tmp_path / "s", overrides=sets)
    write_sweep(plan)
    ckpt = plan.runs[0].directory / "checkpoint.pt"

    def signal_when_training() -> None:
        deadline = time.monotonic() + 60
        while not ckpt.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_when_training, daemon=True).start()
    with preempt.handle_preemption():
        (result,) = run_sweep(plan)
    assert result.status == "preempted" and result.returncode == 75, result
    assert json.loads((plan.runs[0].directory / "summary.json").read_text())["status"] \
        == "preempted"
