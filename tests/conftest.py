"""Shared fixtures. Every test seeds its own randomness; nothing touches global RNG state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture
def gen():
    import torch

    g = torch.Generator()
    g.manual_seed(1234)
    return g
