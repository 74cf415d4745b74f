"""float32 training with a late switch to float64: exact casts, the optimiser state, resume, and
the rounding it removes (checked against the dense Hamiltonian in float64)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from physrnn.config import FieldError
from physrnn.errors import ConfigError
from physrnn.runs.vmc import run_vmc_job
from physrnn.spins.chains import tfim_chain
from physrnn.vmc import VMC, ConnectedOperator, local_energies, make_optimizer
from physrnn.vmc.config import load_vmc_config
from physrnn.vmc.precision import PrecisionSwitch, to_float64
from physrnn.wavefunctions import RNNWavefunction1D


def test_to_float64_casts_parameters_and_adam_state_exactly():
    model = RNNWavefunction1D(6, hidden_size=8, phase=True, seed=2)
    opt, _ = make_optimizer(model, lr=1e-2, n_steps=10)
    vmc = VMC(tfim_chain(6).operator, model, n_samples=32, optimizer=opt, seed=1)
    vmc.step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    moments = {id(p): opt.state[p]["exp_avg"].clone() for p in params}
    to_float64(model, opt)
    assert list(model.parameters()) == params and model.dtype == torch.float64
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float64 and torch.equal(v, before[k].double()), k
    for p in params:
        assert opt.state[p]["exp_avg"].dtype == torch.float64
        assert torch.equal(opt.state[p]["exp_avg"], moments[id(p)].double())
        assert float(opt.state[p]["step"]) == 1.0  # the step counter is kept as it was
    vmc.step()  # the optimiser steps on the float64 parameters
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_driver_switches_before_the_step_it_is_due():
    model = RNNWavefunction1D(6, hidden_size=8, seed=2)
    vmc = VMC(tfim_chain(6).operator, model, n_samples=32, seed=1,
              precision=PrecisionSwitch(at_step=3))
    for _ in range(3):
        vmc.step()
    assert model.dtype == torch.float32 and vmc.float64_since is None
    vmc.step()
    assert model.dtype == torch.float64 and vmc.float64_since == 3


def test_spread_criterion_uses_the_mean_over_the_window():
    rule = PrecisionSwitch(rel_spread=1e-2, window=3)
    rec = [SimpleNamespace(energy=-10.0, variance=v) for v in (1.0, 1e-4, 1e-4, 1e-4)]
    assert not rule.due(4, rec[:2])            # fewer steps than the window
    assert not rule.due(3, rec[:3])            # mean of 0.1, 1e-3, 1e-3 is above 1e-2
    assert rule.due(4, rec)                    # mean spread 1e-3
    assert not PrecisionSwitch().enabled
    with pytest.raises(ValueError, match="window"):
        PrecisionSwitch(rel_spread=1.0, window=0)


def _dense_energy(model, operator) -> float:
    """<psi|H|psi> / <psi|psi> in float64 from netket's dense matrix."""
    hi = operator.hilbert
    s = model.all_configurations()
    with torch.no_grad():
        log_psi = model.log_psi(s).to(torch.complex128)
    idx = np.asarray(hi.states_to_numbers(np.asarray(hi.local_states)[s.numpy()]))
    psi = np.zeros(hi.n_states, dtype=complex)
    psi[idx] = np.exp(log_psi.numpy())
    h = np.asarray(operator.to_dense())
    return float((psi.conj() @ h @ psi).real / (psi.conj() @ psi).real)


def test_float64_removes_the_float32_rounding_of_local_energies():
    """Exact expectation of the same state over all 2^12 configurations: the float64 model's
    local energies reproduce the dense-matrix energy to 1e-12, float32 ones visibly not."""
    system = tfim_chain(12, h=1.0)
    model = RNNWavefunction1D(12, hidden_size=16, phase=True, seed=4)
    conn = ConnectedOperator(system.operator)
    s = model.all_configurations()
    errors = {}
    for name in ("float32", "float64"):
        if name == "float64":
            to_float64(model)
        with torch.no_grad():
            p = model.log_prob(s).double().exp()
            e_loc = local_energies(model, conn, s)
        mean = float((p * e_loc.real.double()).sum() / p.sum())
        exact = _dense_energy(model, system.operator)  # the state of this precision
        errors[name] = abs(mean - exact) / abs(exact)
    assert errors["float64"] < 1e-12
    assert errors["float32"] > 100 * errors["float64"], errors


CFG = ["system.n_sites=6", "wavefunction.hidden_size=8", "vmc.n_steps=6", "vmc.n_samples=32",
       "vmc.final_samples=100", "vmc.float64_from=3", "reference.kind=none", "run.seed=5",
       "run.threads=1", "run.checkpoint_every=1"]


def test_switched_run_resumes_bit_identically(tmp_path):
    cfg = load_vmc_config(None, overrides=CFG)
    full = run_vmc_job(cfg, tmp_path / "a", progress=False)
    assert full["float64_since"] == 3
    run_vmc_job(cfg, tmp_path / "b", progress=False, stop_after=4)   # stopped after the switch
    resumed = run_vmc_job(cfg, tmp_path / "b", progress=False, resume=True)
    assert resumed["energy"] == full["energy"] and resumed["float64_since"] == 3
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["driver"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["driver"]
    for k, v in a["model"].items():
        assert v.dtype == torch.float64 and torch.equal(v, b["model"][k]), k
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["float64_since"] == 3


@pytest.mark.parametrize("overrides, key", [
    (["vmc.float64_from=6"], "float64_from"),
    (["vmc.float64_from=-1"], "float64_from"),
    (["vmc.float64_below=-0.1"], "float64_below"),
    (["vmc.float64_from=2", "wavefunction.dtype='float64'"], "vmc.float64_from"),
])
def test_bad_switch_settings_name_the_key(overrides, key):
    with pytest.raises((ConfigError, FieldError), match=key):
        load_vmc_config(None, overrides=["vmc.n_steps=6", *overrides])
