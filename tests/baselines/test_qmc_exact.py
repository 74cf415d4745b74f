"""ALPS ``loop`` through physrnn's translation against netket's exact diagonalisation.

(Split from ``test_qmc.py`` so that two test workers share the QMC runs.) Agreement within 4
error bars at a beta where the finite-size gap leaves no excited-state weight.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyalps", reason="QMC needs the qmc extra (pyalps)")

from physrnn.baselines.quantum.alps import alps_model, run_loop  # noqa: E402
from physrnn.baselines.quantum.exact import exact_ground_state_energy  # noqa: E402
from physrnn.spins import heisenberg_square, j1j2_chain, tfim_chain, tfim_square  # noqa: E402


def within(run, exact: float, n_sigma: float = 4.0) -> bool:
    return abs(run.energy - exact) <= n_sigma * run.energy_error


@pytest.mark.parametrize("system,beta", [
    (heisenberg_square(2, 2), 16.0),
    (heisenberg_square(2, 4), 16.0),
    (heisenberg_square(4, 4), 16.0),
    (heisenberg_square(4, 4, boundary="periodic"), 16.0),
    (tfim_chain(10, h=1.0), 32.0),
    (tfim_chain(10, h=1.0, boundary="periodic"), 32.0),
    (tfim_square(3, 3, h=3.0), 16.0),
    (j1j2_chain(8, J2=-0.3), 32.0),            # ferromagnetic J2: sign-free, bond type 1
], ids=lambda v: v.describe().split(" (")[0] if hasattr(v, "describe") else str(v))
def test_loop_agrees_with_exact_diagonalisation(system, beta):
    run = run_loop(alps_model(system), beta=beta, sweeps=10_000, thermalization=1_000, seed=7)
    exact = exact_ground_state_energy(system.operator)
    assert within(run, exact), (run.energy, run.energy_error, exact)
    assert run.energy_error < 0.01 * abs(exact)
    assert run.error_converged == 0 and run.sweeps == 10_000
