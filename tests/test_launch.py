"""``python -m physrnn.launch``: torchrun whose exit code is 75 when the workers were preempted.

The exit-code mapping and the signal forwarding are tested with small python children (fast);
then through torchrun with a trivial script, and end to end: ``physrnn vmc`` on two processes
under the launcher, SIGTERM to the launcher, exit code 75, ``--resume`` to the end equal to an
uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from physrnn.launch import FORWARDED_SIGNALS, LaunchResult, main, supervise
from physrnn.runs import preempt
from physrnn.runs.records import load_checkpoint
from physrnn.runs.vmc import run_vmc_job
from physrnn.vmc.config import load_vmc_config as load_config
from tests.helpers.dist import deterministic_tfim

REPO = Path(__file__).resolve().parent.parent
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                 "MASTER_PORT", "SLURM_NTASKS", "SLURM_PROCID", "PHYSRNN_DEBUG",
                 preempt.PREEMPT_MARKER_ENV)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    return env


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


# --------------------------------------------------------------------------- the marker
def test_mark_preempted_appends_one_line_per_call_and_is_a_no_op_without_the_variable(
        tmp_path, monkeypatch):
    monkeypatch.delenv(preempt.PREEMPT_MARKER_ENV, raising=False)
    assert preempt.mark_preempted("SIGTERM") is None
    marker = tmp_path / "m"
    monkeypatch.setenv(preempt.PREEMPT_MARKER_ENV, str(marker))
    monkeypatch.setenv("RANK", "3")
    assert preempt.mark_preempted("SIGUSR1") == marker
    monkeypatch.setenv("RANK", "0")
    preempt.mark_preempted()
    assert marker.read_text().splitlines() == ["rank 3 SIGUSR1", "rank 0 signal"]
    monkeypatch.setenv(preempt.PREEMPT_MARKER_ENV, str(tmp_path / "missing" / "m"))
    assert preempt.mark_preempted("SIGTERM") is None  # unwritable: a warning, no exception


def test_physrnn_vmc_records_its_preemption_for_the_launcher(tmp_path, monkeypatch):
    """`physrnn vmc` (in-process) gets a real SIGUSR1 once its first checkpoint exists: exit
    code 75 and one line in the marker."""
    import threading

    from physrnn.cli import main as cli_main

    marker, out = tmp_path / "marker", tmp_path / "run"
    monkeypatch.setenv(preempt.PREEMPT_MARKER_ENV, str(marker))
    monkeypatch.setenv("PHYSRNN_DISTRIBUTED", "0")
    monkeypatch.delenv("RANK", raising=False)
    cfg = tmp_path / "vmc.toml"
    cfg.write_text('[system]\nmodel = "tfim"\nn_sites = 4\n[vmc]\nn_steps = 100000\n'
                   'n_samples = 16\n[wavefunction]\nhidden_size = 3\n'
                   '[run]\nseed = 1\nthreads = 1\ncheckpoint_every = 1\n')
    stop = threading.Event()

    def signal_after_first_checkpoint() -> None:
        while not stop.is_set():
            if (out / "checkpoint.pt").exists():  # inside handle_preemption by then
                os.kill(os.getpid(), signal.SIGUSR1)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=signal_after_first_checkpoint, daemon=True)
    thread.start()
    try:
        code = cli_main(["vmc", str(cfg), "--out", str(out), "--quiet"])
    finally:
        stop.set()
        thread.join(timeout=10)
    assert code == preempt.PREEMPTED_EXIT_CODE
    assert marker.read_text().splitlines() == ["rank 0 SIGUSR1"]


# --------------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(("code", "marks", "expected"), [
    (1, True, preempt.PREEMPTED_EXIT_CODE),   # torchrun's failure + a worker's record
    (1, False, 1),                            # a plain failure keeps its code
    (0, True, 0),                             # the command succeeded after all
    (3, False, 3),
])
def test_the_exit_code_is_75_only_when_a_worker_recorded_a_preemption(code, marks, expected):
    mark = "from physrnn.runs.preempt import mark_preempted; mark_preempted('SIGTERM')" if marks \
        else ""
    result = supervise(_py(f"{mark}\nraise SystemExit({code})"), env=_env(RANK="1"))
    assert result.returncode == code and result.exit_code == expected
    assert result.preempted == (["rank 1 SIGTERM"] if marks else [])
    line = result.describe()
    assert line.startswith("physrnn: ") and "\n" not in line
    assert ("exit code 75" in line) == (expected == preempt.PREEMPTED_EXIT_CODE)


def test_a_child_killed_by_a_signal_gives_128_plus_n():
    result = supervise(_py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
                       env=_env())
    assert result.returncode == 128 + signal.SIGKILL and result.exit_code == 137
    assert LaunchResult(1, ["rank 0 SIGTERM"]).exit_code == preempt.PREEMPTED_EXIT_CODE


# --------------------------------------------------------------------------- signals
#: A stand-in for torchrun: waits for SIGTERM (SIGUSR1 would kill it), records a preemption
#: and exits with 1, as torchrun does after its workers exit with 75.
FAKE_TORCHRUN = """
import os, signal, sys, time
from pathlib import Path
from physrnn.runs.preempt import mark_preempted
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
Path(sys.argv[1]).write_text("ready")
deadline = time.monotonic() + 60
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
if got:
    mark_preempted(signal.Signals(got[0]).name)
sys.exit(1)
"""

#: The launcher's supervise() as a program (the test signals it from outside).
SUPERVISOR = """
import sys
from physrnn.launch import supervise
r = supervise([sys.executable, "-c", sys.argv[1], sys.argv[2]], reap_orphans=True)
print(r.describe(), file=sys.stderr)
sys.exit(r.exit_code)
"""


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["TERM", "USR1"])
def test_preemption_signals_are_passed_on_and_give_75(tmp_path, sig):
    assert FORWARDED_SIGNALS[int(sig)] == signal.SIGTERM
    ready = tmp_path / "ready"
    proc = subprocess.Popen(_py(SUPERVISOR) + [textwrap.dedent(FAKE_TORCHRUN), str(ready)],
                            cwd=REPO, env=_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(ready, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == preempt.PREEMPTED_EXIT_CODE, err
    assert "physrnn: preempted (rank 0 SIGTERM)" in err


def test_workers_that_outlive_the_launched_command_are_waited_for(tmp_path):
    """The child exits at once; a grandchild in a session of its own records the preemption a
    second later (a worker still writing its checkpoint when torchrun is gone)."""
    grandchild = ("import time; from physrnn.runs.preempt import mark_preempted; time.sleep(1.0); "
                  "mark_preempted('SIGTERM')")
    child = textwrap.dedent(f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", {grandchild!r}], start_new_session=True)
        sys.exit(1)
        """)
    proc = subprocess.run(_py(SUPERVISOR) + [child, "unused"], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == preempt.PREEMPTED_EXIT_CODE, proc.stderr


def test_help_explains_the_exit_code_and_the_slurm_requeue(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("75", "#SBATCH --signal=B:TERM@120", "scontrol requeue",
                 "srun python -m physrnn.launch --standalone --nproc-per-node 2",
                 preempt.PREEMPT_MARKER_ENV):
        assert text in out, text
    assert main([]) == 2


# --------------------------------------------------------------------------- with torchrun
def _launch(*args: str) -> list[str]:
    return [sys.executable, "-m", "physrnn.launch", "--standalone", "--nproc-per-node", "2",
            *args]


def test_under_torchrun_a_recorded_preemption_gives_75_and_a_failure_torchruns_code(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text("import os, sys\nfrom physrnn.runs.preempt import mark_preempted\n"
                      "if os.environ.get('MARK') == '1':\n    mark_preempted('SIGTERM')\n"
                      "sys.exit(int(os.environ['CODE']))\n")
    runs = {}
    for mark, code in (("1", "1"), ("0", "3")):
        proc = subprocess.run(_launch(str(script)), cwd=REPO, env=_env(MARK=mark, CODE=code),
                              capture_output=True, text=True, timeout=180)
        runs[mark] = proc
    assert runs["1"].returncode == preempt.PREEMPTED_EXIT_CODE, runs["1"].stderr
    assert "physrnn: preempted (rank " in runs["1"].stderr
    assert runs["0"].returncode == 1, runs["0"].stderr  # torchrun's code for a failed worker
    assert "physrnn: torchrun exited with code 1" in runs["0"].stderr


VMC_CONFIG = deterministic_tfim(n_steps=150, checkpoint_every=5, seed=5)


@pytest.mark.slow
def test_sigterm_to_the_launcher_of_physrnn_vmc_exits_75_and_resume_completes(tmp_path):
    """Two workers under torchrun under the launcher; SIGTERM once the first periodic
    checkpoint exists; then --resume on one process (deterministic, blocks = 2) to the end,
    equal to an uninterrupted one-process run."""
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(VMC_CONFIG)
    out = tmp_path / "run"
    proc = subprocess.Popen(_launch("-m", "physrnn.cli", "vmc", str(cfg), "--out", str(out),
                                    "--quiet"), cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(out / "checkpoint.pt", proc, timeout_s=180)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == preempt.PREEMPTED_EXIT_CODE, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("physrnn: preempted (") and "exit code 75" in last
    assert "rank 0 SIGTERM" in last and "rank 1 SIGTERM" in last  # both workers recorded it
    assert json.loads((out / "summary.json").read_text())["status"] == "preempted"
    state = load_checkpoint(out / "checkpoint.pt")
    k = state["driver"]["step_count"]
    assert state["world_size"] == 2 and 5 <= k < 150
    resumed = subprocess.run([sys.executable, "-m", "physrnn.cli", "vmc", str(cfg), "--out",
                              str(out), "--resume", "--quiet"], cwd=REPO,
                             env=_env(PHYSRNN_DISTRIBUTED="0"), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    full = run_vmc_job(load_config(cfg), tmp_path / "ref", progress=False)
    assert json.loads((out / "summary.json").read_text())["energy"] == full["energy"]
    a = load_checkpoint(out / "checkpoint.pt")["driver"]["model"]
    b = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")["driver"]["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
