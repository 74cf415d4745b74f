"""Shared fixtures. Every test seeds its own randomness; nothing touches global RNG state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# reference energies must not depend on a QMC cache the user filled: tests get their own
if "PHYSRNN_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["PHYSRNN_CACHE_DIR"] = tempfile.mkdtemp(prefix="physrnn-test-cache-")


def pytest_configure(config):
    # Small models and matrices run fastest on one thread, and oversubscribed torch/BLAS threads
    # on a shared 2-core machine slow down by orders of magnitude.
    import torch

    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        config._physrnn_blas_limit = threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover - threadpoolctl is in the test extra
        pass


@pytest.fixture
def gen():
    import torch

    g = torch.Generator()
    g.manual_seed(1234)
    return g
