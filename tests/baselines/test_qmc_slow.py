"""Slow: QMC through physrnn's ALPS translation against published QMC at 10x10 and 12x12.

References (REFERENCES.md): Heisenberg 10x10 periodic -0.671549(4) per site (S units, Sandvik,
PRB 56, 11678 (1997)); 10x10 open -251.46248 in Pauli units (varbench); TFIM 12x12 open at
h = 3: best variational energy -457.0420317 (an upper bound: QMC must not lie above it).
Several minutes each on one core.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("pyalps", reason="QMC needs the qmc extra (pyalps)")

from physrnn.baselines.quantum.qmc import qmc_ground_state  # noqa: E402
from physrnn.spins import heisenberg_square, tfim_square  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("boundary,reference,ref_error", [
    ("periodic", -0.671549 * 100, 0.000004 * 100),
    ("open", -251.46248 / 4, 0.0),
])
def test_heisenberg_10x10_against_published_qmc(boundary, reference, ref_error):
    res = qmc_ground_state(heisenberg_square(10, 10, boundary=boundary), beta_start=8.0,
                           sweeps=20_000, production_sweeps=200_000, budget_s=1500, seed=3,
                           cache=False)
    assert res.converged and res.beta >= 32
    err = math.hypot(res.error, ref_error)
    assert abs(res.energy - reference) <= 4 * err, (res.energy, res.error, reference)
    assert res.error / 100 < 2e-4                       # per site


def test_tfim_12x12_lies_below_the_best_variational_energy():
    res = qmc_ground_state(tfim_square(12, 12, h=3.0), beta_start=8.0, sweeps=10_000,
                           production_sweeps=100_000, budget_s=1500, seed=3, cache=False)
    assert res.converged
    assert res.energy <= -457.0420317 + 3 * res.error, (res.energy, res.error)
    assert abs(res.energy + 457.04) / 457.04 < 1e-3
