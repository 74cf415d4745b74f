"""``physrnn vmc`` launched as two processes (the variables torchrun sets) equals one process.

The deterministic mode with two blocks makes the two-process run bit-identical to a
one-process run with the same config; rank 0 alone writes the output directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from physrnn.runs.records import load_checkpoint
from tests.helpers.dist import deterministic_tfim, free_port

CONFIG = deterministic_tfim(n_steps=4, checkpoint_every=2, seed=5)



def _cmd(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "physrnn.cli", "vmc", str(cfg), "--out", str(out), "--quiet"]


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID")}
    env.update(OMP_NUM_THREADS="1", PHYSRNN_DISTRIBUTED="1")
    return env


def test_physrnn_vmc_on_two_ranks_equals_one_process(tmp_path):
    cfg = tmp_path / "vmc.toml"
    cfg.write_text(CONFIG)
    one = subprocess.run(_cmd(cfg, tmp_path / "one"), env=_base_env(), capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = _base_env()
        env.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(_cmd(cfg, tmp_path / "two"), env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    assert "relative error" in outputs[0][0] and outputs[1][0] == ""  # rank 0 alone prints
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert a["world_size"] == 1 and b["world_size"] == 2
    for key, value in a["driver"]["model"].items():
        assert torch.equal(value, b["driver"]["model"][key]), key
    s1 = json.loads((tmp_path / "one" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s1["status"] == s2["status"] == "completed"
    assert s1["energy"] == s2["energy"] and s1["energy_error"] == s2["energy_error"]


def test_blocks_that_the_ranks_cannot_share_are_refused_before_any_file(tmp_path, monkeypatch):
    """3 blocks on 2 processes: a one-line ConfigError naming vmc.blocks, nothing written."""
    import pytest

    from physrnn.errors import ConfigError
    from physrnn.runs import vmc as job
    from physrnn.vmc.config import load_vmc_config

    monkeypatch.setattr(job, "get_world_size", lambda: 2)
    cfg = load_vmc_config(None, overrides=["system.n_sites=4", "vmc.deterministic=true",
                                       "vmc.blocks=3"])
    with pytest.raises(ConfigError, match="vmc.blocks.*3 blocks cannot be shared evenly by 2"):
        job.run_vmc_job(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
