"""Shared fixtures of the multi-process tests: a free port and a deterministic VMC config."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for MASTER_PORT)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deterministic_tfim(*, n_steps: int, checkpoint_every: int, seed: int) -> str:
    """A small TFIM chain (N = 6) in deterministic mode with 2 blocks, as TOML: bit-identical
    on 1 and 2 processes."""
    return f"""[system]
model = "tfim"
n_sites = 6
h = 1.0
[wavefunction]
hidden_size = 4
[vmc]
n_steps = {n_steps}
n_samples = 32
final_samples = 64
deterministic = true
blocks = 2
[run]
threads = 1
checkpoint_every = {checkpoint_every}
seed = {seed}
"""
