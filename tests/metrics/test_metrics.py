"""Metrics: relative error, fidelity, V-score, and the Lyapunov exponent of generated data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physrnn.metrics import fidelity, largest_lyapunov_exponent, relative_error, v_score


def test_relative_error_and_fidelity():
    assert relative_error(-9.9, reference=-10.0) == pytest.approx(0.01)
    assert relative_error(-10.1, reference=-10.0) == pytest.approx(0.01)
    assert relative_error(-10.0, reference=-9.9) == pytest.approx(0.1 / 9.9)  # not symmetric
    with pytest.raises(ValueError):
        relative_error(1.0, reference=0.0)
    with pytest.raises(TypeError):  # the reference is keyword-only: no silent swap
        relative_error(-9.9, -10.0)
    rng = np.random.default_rng(0)
    psi = rng.normal(size=8) + 1j * rng.normal(size=8)
    assert fidelity(psi, 3j * psi) == pytest.approx(1.0)
    phi = rng.normal(size=8)
    expected = abs(np.vdot(psi, phi)) ** 2 / (np.vdot(psi, psi).real * np.vdot(phi, phi).real)
    assert fidelity(psi, phi) == pytest.approx(expected)


def test_v_score():
    """N Var(E) / (E - E_inf)^2 with total energies; the floats are keyword-only."""
    assert v_score(10, variance=0.5, energy=-2.5) == pytest.approx(10 * 0.5 / 2.5**2)
    assert v_score(10, variance=0.5, energy=-2.5, e_inf=1.5) == pytest.approx(10 * 0.5 / 16.0)
    assert v_score(4, variance=0.0, energy=-1.0) == 0.0  # an eigenstate
    assert v_score(4, variance=0.1, energy=1.5, e_inf=1.5) == math.inf
    with pytest.raises(TypeError):
        v_score(10, 0.5, -2.5)


def test_lorenz63_lyapunov_exponent():
    """Largest Lyapunov exponent of Lorenz-63 within 0.03 of 0.9056 (Sprott; REFERENCES.md)."""
    from physrnn.systems.base import get_system

    lam, err = largest_lyapunov_exponent(get_system("lorenz63"), t_total=1500.0, seed=0)
    assert abs(lam - 0.9056) < 0.03, (lam, err)
    assert err < 0.03


def test_lyapunov_of_a_stable_flow_is_negative():
    """rho = 10 < rho_H: trajectories settle on a stable fixed point, lambda_1 < 0."""
    from physrnn.systems.base import get_system

    lam, _ = largest_lyapunov_exponent(get_system("lorenz63", rho=10.0), t_total=100.0,
                                       transient=50.0)
    assert lam < -0.05
