"""QMC through ALPS ``loop`` against exact diagonalisation and closed forms.

Independent answers: netket's exact diagonalisation of physrnn's own operators (N <= 16),
the TFIM chain's free-fermion closed form (REFERENCES.md), the staggered magnetisation of the
ED ground-state vector. Agreement is asked within 4 error bars; a deliberately wrong mapping
(``Gamma = h`` instead of ``2 h``) must fail the same comparison.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

pytest.importorskip("pyalps", reason="QMC needs the qmc extra (pyalps)")

from physrnn.baselines.quantum import reference as reference_module  # noqa: E402
from physrnn.baselines.quantum.alps import alps_model, lattice_xml, run_loop  # noqa: E402
from physrnn.baselines.quantum.analytic import tfim_chain_energy  # noqa: E402
from physrnn.baselines.quantum.exact import (  # noqa: E402
    exact_ground_state,
)
from physrnn.baselines.quantum.qmc import (  # noqa: E402
    CACHE_ENV,
    QMCResult,
    cached_qmc,
    qmc_cache_path,
    qmc_ground_state,
    save_qmc_cache,
)
from physrnn.errors import QMCError, RecordError, SignProblemError  # noqa: E402
from physrnn.spins import (  # noqa: E402
    custom_system,
    heisenberg_chain,
    heisenberg_square,
    j1j2_chain,
    j1j2_square,
    tfim_chain,
)


def within(run, exact: float, n_sigma: float = 4.0) -> bool:
    return abs(run.energy - exact) <= n_sigma * run.energy_error


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_tfim_chain_24_against_closed_form_and_a_wrong_mapping_fails(boundary):
    system = tfim_chain(24, h=1.0, boundary=boundary)
    exact = tfim_chain_energy(24, h=1.0, J=1.0, boundary=boundary)
    model = alps_model(system)
    run = run_loop(model, beta=24.0, sweeps=10_000, thermalization=1_000, seed=3)
    assert within(run, exact), (run.energy, run.energy_error, exact)
    wrong = dataclasses.replace(model, parameters={**model.parameters, "Gamma": 1.0})  # h, not 2h
    bad = run_loop(wrong, beta=24.0, sweeps=2_000, thermalization=500, seed=3)
    assert not within(bad, exact), (bad.energy, bad.energy_error, exact)


def test_staggered_magnetisation_matches_the_exact_ground_state():
    system = heisenberg_square(2, 4)
    e0, psi = exact_ground_state(system.operator)
    states = np.asarray(system.hilbert.all_states(), dtype=np.float64)    # +-1
    model = alps_model(system)
    g = np.asarray(model.gauge, dtype=np.float64)
    ms2_exact = float(np.sum(np.abs(psi) ** 2 * (states @ g / 2) ** 2) / system.n_sites ** 2)
    res = qmc_ground_state(system, beta_start=8.0, sweeps=10_000, production_sweeps=40_000,
                           seed=5, cache=False)
    assert res.converged and res.status == "converged"
    assert abs(res.energy - e0) <= 4 * res.error
    assert res.staggered_magnetization_sq == pytest.approx(ms2_exact, rel=0.03)
    assert res.uniform_magnetization_sq == pytest.approx(0.0, abs=2e-3)   # singlet
    assert res.correlations.shape == (8, 8)
    # the ladder doubled beta from 8 and stopped after two agreeing doublings
    betas = [r["beta"] for r in res.trace]
    assert betas[:3] == [8.0, 16.0, 32.0] and res.beta == betas[-1]
    # then one production run at the converged beta, with the smaller error bar reported
    assert res.trace[-1].get("production") and res.trace[-1]["sweeps"] == 40_000
    assert res.error == res.trace[-1]["error"] < res.trace[-2]["error"]


def test_same_seed_same_numbers_and_the_budget_cuts_the_ladder():
    model = alps_model(tfim_chain(8, h=1.0))
    a = run_loop(model, beta=4.0, sweeps=2_000, thermalization=200, seed=11)
    b = run_loop(model, beta=4.0, sweeps=2_000, thermalization=200, seed=11)
    c = run_loop(model, beta=4.0, sweeps=2_000, thermalization=200, seed=12)
    assert a.energy == b.energy and a.energy != c.energy
    res = qmc_ground_state(heisenberg_chain(16), beta_start=2.0, beta_max=1024.0,
                           sweeps=200_000, budget_s=4.0, min_sweeps=20_000, seed=1,
                           cache=False)
    assert res.status in ("budget", "converged")
    assert res.wall_s < 20.0


@pytest.mark.parametrize("system,match", [
    (j1j2_chain(8, J2=0.5), "frustrated"),
    (j1j2_square(4, 4, J2=0.5), "frustrated"),
    (heisenberg_chain(5, boundary="periodic", marshall_sign=False), "frustrated"),
])
def test_sign_problems_are_refused_in_one_line(system, match):
    with pytest.raises(SignProblemError, match=match) as info:
        alps_model(system)
    assert "\n" not in str(info.value)


def test_triangular_antiferromagnet_and_complex_couplings_are_refused():
    import netket as nk

    # a Heisenberg antiferromagnet on the triangular lattice (any netket graph is translated)
    tri = nk.graph.Triangular([3, 3], pbc=True)
    heis = heisenberg_chain(9, boundary="periodic", marshall_sign=False)
    on_tri = dataclasses.replace(heis, graph=tri)
    with pytest.raises(SignProblemError, match="frustrated") as info:
        alps_model(on_tri)
    assert "\n" not in str(info.value)
    # the same graph with a ferromagnetic exchange is sign-free
    ferro = dataclasses.replace(on_tri, params={**on_tri.params, "J": -1.0})
    assert alps_model(ferro).parameters["Jxy0"] == -1.0
    tfim = tfim_chain(4)
    for key in ("h", "J"):
        bad = dataclasses.replace(tfim, params={**tfim.params, key: 1.0 + 0.5j})
        with pytest.raises(SignProblemError, match=f"coupling {key} .* complex"):
            alps_model(bad)


def test_other_refusals():
    import netket as nk

    s1 = dataclasses.replace(heisenberg_chain(4), hilbert=nk.hilbert.Spin(1.0, 4))
    with pytest.raises(SignProblemError, match="spin-1/2"):
        alps_model(s1)
    no_graph = custom_system(nk.operator.Heisenberg(nk.hilbert.Spin(0.5, 4), nk.graph.Chain(4)))
    no_graph = dataclasses.replace(no_graph, graph=None)
    with pytest.raises(SignProblemError, match="lattice model"):
        alps_model(no_graph)
    with pytest.raises(ValueError, match="beta"):
        run_loop(alps_model(tfim_chain(4)), beta=0.0, sweeps=10, thermalization=0, seed=0)


def test_missing_alps_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyalps" else real(name, *a))
    with pytest.raises(QMCError, match=r"physrnn\[qmc\]"):
        run_loop(alps_model(tfim_chain(4)), beta=1.0, sweeps=10, thermalization=0, seed=0)


def test_lattice_file_is_written_from_the_graph():
    model = alps_model(j1j2_chain(6, J2=-0.2, boundary="periodic"))
    xml = lattice_xml(model)
    assert xml.count("<EDGE") == 12 and 'type="1"' in xml and 'vertices="6"' in xml
    assert model.parameters == {"Jz0": 1.0, "Jxy0": 1.0, "Gamma": 0.0, "Jz1": -0.2,
                                "Jxy1": -0.2}
    assert alps_model(tfim_chain(4, h=0.7, J=2.0)).parameters == {
        "Jz0": -8.0, "Jxy0": 0.0, "Gamma": 1.4}


def test_cache_feeds_reference_energy_and_rejects_foreign_files(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    system = heisenberg_square(5, 6)                        # N = 30: beyond ED
    assert reference_module.reference_energy(system) is None
    model_path = qmc_cache_path(system)
    assert model_path.parent == tmp_path / "qmc"
    fake = QMCResult(energy=-19.0, error=0.01, energy_per_site=-19.0 / 30, beta=64.0,
                     converged=True, status="converged", n_sites=30, sweeps=1, wall_s=1.0,
                     trace=[], hash=model_path.stem)
    assert save_qmc_cache(fake) == model_path
    ref = reference_module.reference_energy(system)
    assert ref.kind == "qmc" and ref.energy == -19.0 and ref.error == 0.01
    assert cached_qmc(system).beta == 64.0
    assert reference_module.reference_energy(system, qmc="off") is None
    # a shorter run (larger error bar) or an unconverged one never replaces a better entry
    worse = dataclasses.replace(fake, energy=-18.0, error=0.1)
    save_qmc_cache(worse)
    save_qmc_cache(dataclasses.replace(fake, energy=-17.0, error=0.001, converged=False))
    assert cached_qmc(system).energy == -19.0
    better = dataclasses.replace(fake, energy=-19.5, error=0.001)
    save_qmc_cache(better)
    assert cached_qmc(system).energy == -19.5
    save_qmc_cache(worse, force=True)
    assert cached_qmc(system).energy == -18.0
    model_path.write_text("{not json")
    with pytest.raises(RecordError, match="corrupted"):
        cached_qmc(system)
    model_path.write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(RecordError, match="not a physrnn QMC"):
        cached_qmc(system)
    assert math.isfinite(fake.energy)
