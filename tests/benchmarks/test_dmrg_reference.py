"""The DMRG reference tool: TeNPy's energies equal exact diagonalisation on small chains."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tenpy")


@pytest.mark.parametrize("J2", [0.0, 0.7])
def test_dmrg_energy_equals_exact_diagonalisation(J2):
    import physrnn.spins
    from benchmarks.dmrg_reference import dmrg_energy
    from physrnn.baselines.quantum.exact import exact_ground_state_energy

    exact = exact_ground_state_energy(physrnn.spins.j1j2_chain(12, J2=J2).operator)
    energy, truncation = dmrg_energy(12, J2, chi=64)
    # chi 64 holds the N = 12 ground state exactly (the largest Schmidt rank is 64)
    assert energy == pytest.approx(exact, abs=1e-9)
    assert 0.0 <= truncation < 1e-10


@pytest.mark.slow
def test_dmrg_reference_quick_run_writes_the_check_row(tmp_path):
    from benchmarks.dmrg_reference import main

    out = tmp_path / "dmrg.json"
    assert main(["--quick", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    (row,) = payload["rows"]
    assert row["key"] == "check20" and row["ref_source"].startswith("exact")
    assert abs(row["deviation"]) < 1e-6
    # DMRG is variational: the larger bond dimension is never above the smaller one
    assert row["convergence"] <= 1e-10
    assert payload["machine"]["git_revision"]


def test_dmrg_reference_unknown_row_exits():
    from benchmarks.dmrg_reference import main

    with pytest.raises(SystemExit) as err:
        main(["--rows", "heis1000"])
    assert err.value.code != 0
