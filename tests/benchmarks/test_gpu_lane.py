"""``benchmarks/gpu_lane.sh``: its smoke mode on the CPU writes every part's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_lane_refuses_to_run_without_an_output_directory():
    out = subprocess.run(["bash", str(REPO / "benchmarks/gpu_lane.sh")], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode != 0 and "usage" in out.stderr


@pytest.mark.slow
def test_lane_smoke_on_the_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_LANE_DEVICE": "cpu",
           "GPU_LANE_QUICK": "1"}
    out = subprocess.run(["bash", str(REPO / "benchmarks/gpu_lane.sh"), str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert out.returncode == 0, (tmp_path / "summary.txt").read_text()
    summary = (tmp_path / "summary.txt").read_text().splitlines()
    assert summary == ["cuda tests: exit 0", "vmc_speed chains: exit 0",
                       "heisenberg 10x10 row: exit 0"]
    assert json.loads((tmp_path / "vmc_speed-cuda.json").read_text())["rows"]
    assert json.loads((tmp_path / "reproduce-10x10.json").read_text())["rows"]
    assert "torch" in (tmp_path / "environment.txt").read_text()
