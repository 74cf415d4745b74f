"""Shared fixtures. Every test seeds its own randomness; nothing touches global RNG state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pytest_configure(config):
    # Small recurrent models run fastest on one intra-op thread, and oversubscribed threads on a
    # shared 2-core machine slow torch down by orders of magnitude.
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def gen():
    import torch

    g = torch.Generator()
    g.manual_seed(1234)
    return g
