"""Shared fixtures of the trust tests: tiny runs, crafted files, small file systems."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

VMC_TINY = ('[system]\nmodel = "tfim"\nn_sites = 6\n[vmc]\nn_steps = 8\nn_samples = 32\n'
            'final_samples = 64\n[wavefunction]\nhidden_size = 4\n'
            '[run]\nthreads = 1\ncheckpoint_every = 2\nseed = 3\n')

TRAIN_TINY = ('[data]\npath = "{data}"\ncard = ""\ncontext = 20\nhorizon = 5\nstride = 10\n'
              'batch_size = 16\n[model]\nhidden_size = 4\n[train]\nepochs = 2\n'
              'rollout_start_epoch = 0\nrollout_end_epoch = 1\nrollout_k_max = 5\n'
              '[eval]\nn_test = 1\nbaselines = []\nfree_run_steps = 0\n'
              'horizon_lyapunov = 0.5\n[readout]\nfeatures = "none"\n'
              '[run]\nthreads = 1\ncheckpoint_every = 1\n')


def tiny_dataset(path: Path, *, overwrite: bool = False) -> Path:
    """Six short sine/cosine trajectories as a physrnn dataset (n_traj, n_t, 2)."""
    from physrnn.data.hdf5 import write_dataset

    rng = np.random.default_rng(0)
    t = np.arange(200) * 0.05
    phase = rng.uniform(0, 2 * np.pi, size=(6, 1))
    y = np.stack([np.sin(t + phase), np.cos(t + phase)], axis=-1)
    write_dataset(path, t=t, y=y, meta={"system": "oscillator", "dt": 0.05},
                  splits={"train": [0, 1, 2, 3], "val": [4], "test": [5]}, overwrite=overwrite)
    return path


class Payload:
    """Unpickling this runs ``exec`` of a line that creates ``marker``: a crafted file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def malicious_torch_file(path: Path, marker: Path) -> Path:
    """A real ``torch.save`` zip whose pickle calls ``exec`` (looks like a checkpoint)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "physrnn-checkpoint", "schema_version": 1, "x": Payload(marker)},
               path)
    return path


def malicious_pickle(path: Path, marker: Path) -> Path:
    """A raw pickle (not a zip) that calls ``exec`` when loaded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def run_cli(args: list[str], *, cwd: Path, timeout: float = 300.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m physrnn.cli ARGS`` as its own process."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full.pop("PHYSRNN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "physrnn.cli", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at ``path`` (yields ``None`` where mounting is not allowed).

    Unmounted (lazily) on exit.
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        yield None
        return
    if r.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def remount(path: Path, mode: str) -> None:
    """``mount -o remount,MODE`` (``ro`` or ``rw``) of a tmpfs from :func:`small_filesystem`."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True,
                   capture_output=True, timeout=30)


def fill(directory: Path, *, leave: int = 0) -> Path:
    """Fill the file system of ``directory`` until at most ``leave`` bytes are free."""
    import shutil

    filler = directory / f"filler-{uuid.uuid4().hex[:8]}"
    free = shutil.disk_usage(directory).free
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
            f.flush()
            os.fsync(f.fileno())
        except OSError:
            pass
    return filler


class LegacyRecord(dict):
    """A pickled custom class, as old unsafe checkpoints held (importable for unpickling)."""
