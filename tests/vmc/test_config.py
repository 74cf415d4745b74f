"""Config keys of square lattices, J1-J2 models, 2D/symmetrised wavefunctions, SR and annealing:
round trips, named errors, the models that :mod:`physrnn.vmc.factory` builds, and a short run
through ``physrnn vmc``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from physrnn.config import from_dict, to_dict, to_toml
from physrnn.errors import ConfigError
from physrnn.spins import build_system
from physrnn.spins.lattices import heisenberg_square, j1j2_chain, j1j2_square, xxz_square
from physrnn.vmc import factory
from physrnn.vmc.annealing import AnnealingSchedule
from physrnn.vmc.config import SystemConfig, VMCRunConfig, load_vmc_config
from physrnn.vmc.sr import SRStep
from physrnn.wavefunctions import RNNWavefunction1D, RNNWavefunction2D, SymmetrisedWavefunction

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SQUARE = ["system.lattice=square", "system.Lx=3", "system.Ly=3", "system.model=heisenberg"]
CPU = torch.device("cpu")


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def roundtrip(tmp_path: Path, cfg: VMCRunConfig) -> VMCRunConfig:
    assert from_dict(VMCRunConfig, to_dict(cfg)) == cfg
    return load_vmc_config(write(tmp_path, to_toml(cfg), "roundtrip.toml"))


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("overrides, section, key, value", [
    (["system.lattice=square", "system.Lx=4", "system.Ly=3"], "system", "lattice", "square"),
    (["system.lattice=square", "system.Lx=4", "system.Ly=3"], "system", "Lx", 4),
    (["system.lattice=square", "system.Lx=4", "system.Ly=3"], "system", "Ly", 3),
    (["system.model=j1j2", "system.J2=0.5", "system.n_sites=8"], "system", "J2", 0.5),
    (["system.model=j1j2", "system.n_sites=8"], "system", "model", "j1j2"),
    ([*SQUARE, "wavefunction.kind=rnn2d"], "wavefunction", "kind", "rnn2d"),
    ([*SQUARE, "wavefunction.kind=rnn2d", "wavefunction.cell=tensor_gru"], "wavefunction",
     "cell", "tensor_gru"),
    ([*SQUARE, "system.marshall_sign=false", "wavefunction.kind=rnn2d",
      "wavefunction.marshall_sign=true"], "wavefunction", "marshall_sign", True),
    ([*SQUARE, "wavefunction.kind=rnn2d", "wavefunction.magnetisation=-1"], "wavefunction",
     "magnetisation", -1),
    ([*SQUARE, "wavefunction.symmetry=point"], "wavefunction", "symmetry", "point"),
    (["wavefunction.spin_flip=true"], "wavefunction", "spin_flip", True),
    ([*SQUARE, "wavefunction.symmetry=point", "wavefunction.irrep=B2"], "wavefunction", "irrep",
     "B2"),
    (["wavefunction.spin_flip=true", "wavefunction.flip_character=-1"], "wavefunction",
     "flip_character", -1),
    (["system.boundary=periodic", "wavefunction.symmetry=translations",
      "wavefunction.momentum=[3]"], "wavefunction", "momentum", [3]),
    (["vmc.optimizer=sgd"], "vmc", "optimizer", "sgd"),
    (["vmc.sr=minsr"], "vmc", "sr", "minsr"),
    (["vmc.sr=sr", "vmc.sr_shift=0.01"], "vmc", "sr_shift", 0.01),
    (["vmc.sr=sr", "vmc.sr_shift_rel=0.1"], "vmc", "sr_shift_rel", 0.1),
    (["vmc.sr=sr", "vmc.sr_solver=cg"], "vmc", "sr_solver", "cg"),
    (["vmc.sr=sr", "vmc.sr_max_norm=2.5"], "vmc", "sr_max_norm", 2.5),
    (["vmc.annealing=exponential"], "vmc", "annealing", "exponential"),
    (["vmc.annealing=linear", "vmc.T0=0.25"], "vmc", "T0", 0.25),
    (["vmc.annealing=linear", "vmc.annealing_warmup=20"], "vmc", "annealing_warmup", 20),
    (["vmc.annealing=linear", "vmc.annealing_steps=300"], "vmc", "annealing_steps", 300),
])
def test_each_new_key_round_trips(tmp_path, overrides, section, key, value):
    cfg = load_vmc_config(None, overrides=overrides)
    assert getattr(getattr(cfg, section), key) == value
    assert roundtrip(tmp_path, cfg) == cfg


def test_everything_at_once_round_trips_and_square_n_sites_is_derived(tmp_path):
    text = """
[system]
model = "j1j2"
lattice = "square"
Lx = 4
Ly = 3
J2 = 0.3
marshall_sign = false
[wavefunction]
kind = "rnn2d"
cell = "tensor_gru"
marshall_sign = true
magnetisation = 0
symmetry = "point"
spin_flip = true
irrep = "B1"
flip_character = -1
dtype = "float64"
[vmc]
n_steps = 20
optimizer = "sgd"
sr = "minsr"
sr_shift = 0.01
sr_solver = "eigh"
sr_max_norm = 5.0
annealing = "exponential"
T0 = 0.5
annealing_warmup = 3
annealing_steps = 10
"""
    cfg = load_vmc_config(write(tmp_path, text))
    assert cfg.system.n_sites == 12          # Lx * Ly, filled in on load
    assert roundtrip(tmp_path, cfg) == cfg
    assert "n_sites = 12" in to_toml(cfg)


def test_defaults_unchanged_and_default_toml_loads(tmp_path):
    cfg = VMCRunConfig()
    assert (cfg.system.lattice, cfg.system.n_sites, cfg.system.J2) == ("chain", 20, 0.0)
    assert (cfg.wavefunction.kind, cfg.wavefunction.magnetisation) == ("rnn1d", None)
    assert (cfg.vmc.optimizer, cfg.vmc.sr, cfg.vmc.annealing) == ("adam", "none", "none")
    text = to_toml(cfg)
    assert "None" not in text and "# magnetisation is unset" in text
    assert roundtrip(tmp_path, cfg) == cfg


def test_square_lattice_accepts_n_sites_equal_to_lx_ly():
    assert SystemConfig(lattice="square", Lx=2, Ly=5, n_sites=10).n_sites == 10


# ------------------------------------------------------------------------------ bad values
BAD = [
    ("[vmc]\nblocks = 2\n", "vmc.blocks", "set deterministic = true"),
    ("[vmc]\ndeterministic = true\nblocks = -1\n", "vmc.blocks", "must be >= 0"),
    ("[vmc]\ndeterministic = true\nn_samples = 4\nblocks = 8\n", "vmc.blocks",
     "more blocks"),
    ('[vmc]\ndeterministic = "yes"\n', "vmc.deterministic", "true or false"),
    ('[system]\nlattice = "triangular"\n', "system.lattice", "'chain', 'square'"),
    ('[system]\nlattice = "square"\nLx = 1\nLy = 4\n', "system.Lx", "needs Lx >= 2"),
    ('[system]\nlattice = "square"\nLx = 4\nLy = 2\nboundary = "periodic"\n', "system.Ly",
     "periodic extent of 2"),
    ("[system]\nLx = 4\n", "system.Lx", "only used with lattice = 'square'"),
    ('[system]\nlattice = "square"\nLx = 4\nLy = 4\nn_sites = 12\n', "system.n_sites",
     "Lx \\* Ly = 16"),
    ('[system]\nmodel = "heisenberg"\nJ2 = 0.5\n', "system.J2", "only used by model = 'j1j2'"),
    ('[system]\nmodel = "heisenberg"\nlattice = "square"\nLx = 3\nLy = 4\n'
     'boundary = "periodic"\n', "system.marshall_sign", "bipartite"),
    ('[system]\nmodel = "j1j2"\nn_sites = 4\nboundary = "periodic"\n', "system.n_sites",
     "n_sites >= 5"),
    ('[wavefunction]\ncell = "tensor_gru"\n', "wavefunction.cell", "2D cell"),
    ('[system]\nlattice = "square"\nLx = 2\nLy = 2\n[wavefunction]\nkind = "rnn2d"\n'
     'cell = "lstm"\n', "wavefunction.cell", "1D cell"),
    ('[system]\nmodel = "heisenberg"\n[wavefunction]\nmagnetisation = 0\n',
     "wavefunction.magnetisation", "'rnn2d' only"),
    ('[system]\nmodel = "heisenberg"\nlattice = "square"\nLx = 4\nLy = 4\n[wavefunction]\n'
     'kind = "rnn2d"\nmagnetisation = 1\n', "wavefunction.magnetisation", "impossible"),
    ('[system]\nlattice = "square"\nLx = 2\nLy = 2\n[wavefunction]\nkind = "rnn2d"\n'
     'magnetisation = 0\n', "wavefunction.magnetisation", "does not conserve"),
    ('[wavefunction]\nkind = "rnn2d"\n', "wavefunction.kind", "needs system.lattice"),
    ('[wavefunction]\nkind = "rnn2d"\nn_layers = 2\n', "wavefunction.n_layers",
     "one recurrent layer"),
    ('[system]\nmodel = "heisenberg"\nlattice = "square"\nLx = 2\nLy = 2\n[wavefunction]\n'
     'kind = "rnn2d"\nmarshall_sign = true\n', "wavefunction.marshall_sign", "cancel"),
    ('[wavefunction]\nmarshall_sign = true\n', "wavefunction.marshall_sign", "rnn1d"),
    ('[wavefunction]\nirrep = "B1"\n', "wavefunction.irrep", "symmetry = 'point'"),
    ('[wavefunction]\nsymmetry = "translations"\n', "wavefunction.symmetry", "periodic"),
    ('[system]\nboundary = "periodic"\n[wavefunction]\nsymmetry = "point"\n',
     "wavefunction.symmetry", "'square' only"),
    ('[wavefunction]\nsymmetry = "c6v"\n', "wavefunction.symmetry", "'none', 'translations'"),
    ('[wavefunction]\nflip_character = 2\n', "wavefunction.flip_character", "1 or -1"),
    ('[wavefunction]\nmomentum = [1]\n', "wavefunction.momentum", "symmetry = 'translations'"),
    ('[system]\nboundary = "periodic"\n[wavefunction]\nsymmetry = "translations"\n'
     'momentum = [1, 0]\n', "wavefunction.momentum", "one per axis of the chain"),
    ('[system]\nboundary = "periodic"\n[wavefunction]\nsymmetry = "translations"\n'
     'momentum = [0.5]\n', "wavefunction.momentum", "integer"),
    ('[wavefunction]\nflip_character = -1\n', "wavefunction.flip_character", "spin_flip"),
    ('[system]\nmodel = "heisenberg"\nlattice = "square"\nLx = 2\nLy = 2\n[wavefunction]\n'
     'kind = "rnn2d"\nmagnetisation = 2\nspin_flip = true\n', "wavefunction.spin_flip",
     "M = 0 sector"),
    ('[vmc]\noptimizer = "rmsprop"\n', "vmc.optimizer", "'adam', 'sgd'"),
    ('[vmc]\nsr = "natural"\n', "vmc.sr", "'none', 'sr', 'minsr'"),
    ("[vmc]\nsr_shift = -0.1\n", "vmc.sr_shift", ">= 0"),
    ('[vmc]\nsr = "minsr"\nsr_shift_rel = 0.1\n', "vmc.sr_shift_rel", "minsr"),
    ('[vmc]\nsr_solver = "qr"\n', "vmc.sr_solver", "'cholesky'"),
    ('[vmc]\nannealing = "cosine"\n', "vmc.annealing", "'linear', 'exponential'"),
    ("[vmc]\nT0 = 0.0\n", "vmc.T0", "> 0"),
    ('[vmc]\nn_steps = 50\nannealing = "linear"\nannealing_warmup = 10\n'
     "annealing_steps = 50\n", "vmc.annealing_steps", "= 60 steps"),
]


@pytest.mark.parametrize("text, key, match", BAD, ids=[f"{k}-{i}" for i, (_, k, _m)
                                                       in enumerate(BAD)])
def test_bad_value_is_a_one_line_error_naming_file_and_key(tmp_path, text, key, match):
    with pytest.raises(ConfigError) as info:
        load_vmc_config(write(tmp_path, text))
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "c.toml")), msg
    assert f"key '{key}'" in msg, msg
    assert re.search(match, msg), msg
    assert "\n" not in msg


def test_bad_value_through_the_command_line(tmp_path, capsys):
    from physrnn.cli import main

    cfg = write(tmp_path, '[wavefunction]\nkind = "rnn2d"\n')
    assert main(["vmc", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("physrnn: error:") and "'wavefunction.kind'" in err
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ systems
def _dense(system) -> np.ndarray:
    return np.asarray(system.operator.to_dense())


@pytest.mark.parametrize("overrides, direct", [
    (["system.lattice=square", "system.Lx=2", "system.Ly=3", "system.model=heisenberg"],
     lambda: heisenberg_square(2, 3)),
    (["system.lattice=square", "system.Lx=2", "system.Ly=3", "system.model=xxz",
      "system.delta=0.5", "system.marshall_sign=false"],
     lambda: xxz_square(2, 3, delta=0.5, marshall_sign=False)),
    (["system.lattice=square", "system.Lx=3", "system.Ly=3", "system.model=j1j2",
      "system.J2=0.4", "system.J=0.8"], lambda: j1j2_square(3, 3, J2=0.4, J1=0.8,
                                                            marshall_sign=True)),
    (["system.model=j1j2", "system.n_sites=8", "system.J2=0.5", "system.marshall_sign=false",
      "system.boundary=periodic"],
     lambda: j1j2_chain(8, J2=0.5, boundary="periodic", marshall_sign=False)),
])
def test_build_system_square_and_j1j2(overrides, direct):
    system = build_system(load_vmc_config(None, overrides=overrides).system)
    ref = direct()
    assert system.n_sites == ref.n_sites and system.name == ref.name
    np.testing.assert_allclose(_dense(system), _dense(ref), atol=1e-12)


def test_xxz_square_against_explicit_bond_sum():
    import netket as nk
    from netket.operator.spin import sigmax, sigmay, sigmaz

    system = xxz_square(2, 3, delta=0.3, J=1.5, marshall_sign=False)
    hi = system.hilbert
    op = sum(0.25 * 1.5 * (sigmax(hi, i) @ sigmax(hi, j) + sigmay(hi, i) @ sigmay(hi, j)
                           + 0.3 * sigmaz(hi, i) @ sigmaz(hi, j))
             for i, j in nk.graph.Grid([2, 3], pbc=False).edges())
    np.testing.assert_allclose(_dense(system), np.asarray(op.to_dense()).real, atol=1e-12)
    np.testing.assert_allclose(_dense(xxz_square(2, 3, delta=1.0)), _dense(heisenberg_square(2, 3)))


# ------------------------------------------------------------------------------ the factory
def _build(overrides):
    cfg = load_vmc_config(None, overrides=["vmc.n_samples=16", "wavefunction.hidden_size=4",
                                       *overrides])
    return cfg, factory.build_vmc(cfg, build_system(cfg.system), CPU)


def _old_1d_builder(cfg, system):
    """The 1D builder ``physrnn vmc`` used before the factory, written out independently."""
    from physrnn.vmc import VMC, make_optimizer

    wf, v = cfg.wavefunction, cfg.vmc
    model = RNNWavefunction1D(system.n_sites, hidden_size=wf.hidden_size, n_layers=wf.n_layers,
                              cell=wf.cell, phase=wf.phase, dtype=getattr(torch, wf.dtype),
                              seed=cfg.run.seed)
    opt, sched = make_optimizer(model, lr=v.lr, schedule=v.lr_schedule, n_steps=v.n_steps,
                                lr_final=v.lr_final)
    return VMC(system.operator, model, n_samples=v.n_samples, optimizer=opt, scheduler=sched,
               seed=cfg.run.seed, chunk_size=v.chunk_size, e_inf=system.e_inf)


def test_factory_matches_the_1d_builder_step_for_step():
    from physrnn.runs import vmc as job

    assert job.build_vmc is factory.build_vmc  # what ``physrnn vmc`` runs
    cfg = load_vmc_config(None, overrides=["system.n_sites=6", "system.model=heisenberg",
                                       "wavefunction.hidden_size=4", "vmc.n_samples=32",
                                       "wavefunction.phase=true", "run.seed=3"])
    system = build_system(cfg.system)
    old, new = _old_1d_builder(cfg, system), factory.build_vmc(cfg, system, CPU)
    assert type(new.model) is RNNWavefunction1D and type(new.optimizer) is torch.optim.Adam
    assert new.sr is None and new.annealing is None
    old.run(3, progress=False)
    new.run(3, progress=False)
    assert [r.energy for r in old.history] == [r.energy for r in new.history]
    for a, b in zip(old.model.parameters(), new.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_factory_builds_the_2d_model_with_its_options():
    cfg, vmc = _build([*SQUARE, "system.marshall_sign=false", "wavefunction.kind=rnn2d",
                       "wavefunction.cell=tensor_gru", "wavefunction.marshall_sign=true",
                       "wavefunction.magnetisation=1", "wavefunction.phase=true",
                       "wavefunction.dtype=float64"])
    m = vmc.model
    assert type(m) is RNNWavefunction2D
    assert (m.Lx, m.Ly, m.cell_name, m.magnetisation, m.marshall_sign, m.has_phase) == \
        (3, 3, "tensor_gru", 1, True, True)
    assert m.dtype == torch.float64 and m.boundary == "open"
    s = m.sample(64, generator=torch.Generator().manual_seed(0))
    assert ((s == 0).sum(1) - (s == 1).sum(1) == 1).all()  # every sample has M = 1


@pytest.mark.parametrize("overrides, inner, n_elements", [
    ([*SQUARE, "wavefunction.kind=rnn2d", "wavefunction.symmetry=point"], RNNWavefunction2D, 8),
    (["system.lattice=square", "system.Lx=2", "system.Ly=3", "wavefunction.kind=rnn2d",
      "wavefunction.symmetry=point", "wavefunction.spin_flip=true"], RNNWavefunction2D, 8),
    (["system.lattice=square", "system.Lx=4", "system.Ly=4", "system.boundary=periodic",
      "system.model=heisenberg", "wavefunction.kind=rnn2d", "wavefunction.symmetry=space"],
     RNNWavefunction2D, 128),
    (["system.n_sites=6", "system.boundary=periodic", "wavefunction.symmetry=translations"],
     RNNWavefunction1D, 6),
    (["system.n_sites=6", "wavefunction.spin_flip=true", "wavefunction.flip_character=-1"],
     RNNWavefunction1D, 2),
])
def test_factory_symmetrises(overrides, inner, n_elements):
    cfg, vmc = _build(overrides)
    assert type(vmc.model) is SymmetrisedWavefunction and type(vmc.model.model) is inner
    assert vmc.model.n_elements == n_elements
    assert vmc.model.trivial == (cfg.wavefunction.flip_character == 1)


def test_factory_point_irrep_characters():
    """``irrep = "B1"`` on a 3 x 3 square gives a state in B1 of C4v.

    The characters come from netket (independently of physrnn's groups): the 1D row of the
    character table of C4v that is +1 on the elements that keep the axes (their 2 x 2 matrix
    is diagonal: identity, Rot(180), the two axis reflections) and -1 on the 90-degree
    rotations and diagonal reflections (the irrep of ``x^2 - y^2``). Over all 2^9
    configurations the symmetrised state obeys ``psi(g s) = chi(g) psi(s)`` for every g, and
    the projector onto B1 leaves it unchanged while the other 1D irreps project it to zero.
    """
    import netket as nk
    from netket.utils.group import planar

    _, vmc = _build([*SQUARE, "wavefunction.kind=rnn2d", "wavefunction.symmetry=point",
                     "wavefunction.irrep=B1", "wavefunction.dtype=float64"])
    model = vmc.model
    assert not model.trivial and model.is_complex and model.n_elements == 8
    # netket's C4v about the centre of the 3 x 3 square, as site permutations
    geometry = planar.D(4).change_origin([1.0, 1.0])
    nk_group = nk.graph.Square(3, pbc=False).point_group(geometry)
    nk_perms = np.asarray(nk_group.to_array())
    keeps_axes = np.abs(np.asarray(geometry.matrices())[:, 0, 1]) < 1e-9
    table = np.asarray(nk_group.character_table()).real
    one_d = table[np.isclose(table[:, 0], 1.0)]
    assert one_d.shape == (4, 8)
    (b1,) = [row for row in one_d if np.allclose(row, np.where(keeps_axes, 1.0, -1.0))]
    order = [int(np.flatnonzero((nk_perms == p).all(1))[0]) for p in model.group.perms]
    chi = b1[order]
    # the state transforms with these characters
    s = model.all_configurations()
    with torch.no_grad():
        psi = torch.exp(model.log_psi(s).to(torch.complex128))
        moved = torch.stack([torch.exp(model.log_psi(s[:, torch.as_tensor(p)])
                                       .to(torch.complex128)) for p in model.group.perms])
    assert float((psi.abs() ** 2).sum()) > 0.5  # not (almost) the zero vector
    for g in range(len(order)):
        torch.testing.assert_close(moved[g], chi[g] * psi, rtol=1e-9, atol=1e-12)
    # projecting onto B1 leaves it unchanged; onto the other 1D irreps gives zero
    for row in one_d:
        projected = (torch.as_tensor(row[order], dtype=torch.complex128)[:, None].conj()
                     * moved).mean(0)
        target = psi if np.allclose(row, b1) else torch.zeros_like(psi)
        torch.testing.assert_close(projected, target, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("overrides, axes", [
    (["system.n_sites=6", "wavefunction.momentum=[2]"], [6]),
    (["system.lattice=square", "system.Lx=3", "system.Ly=4", "wavefunction.kind=rnn2d",
      "wavefunction.momentum=[1, 3]"], [3, 4]),
])
def test_factory_momentum_characters(overrides, axes):
    """``psi(T_t s) = exp(i k . t) psi(s)`` with ``k = 2 pi m / L``, for every translation."""
    cfg, vmc = _build(["system.boundary=periodic", "wavefunction.symmetry=translations",
                       "wavefunction.dtype=float64", *overrides])
    model = vmc.model
    assert model.is_complex and not model.trivial
    k = 2 * np.pi * np.asarray(cfg.wavefunction.momentum) / np.asarray(axes)
    s = model.sample(16, generator=torch.Generator().manual_seed(0))
    psi = torch.exp(model.log_psi(s).to(torch.complex128))
    group = model.group
    for perm, shift in zip(group.perms, group.shifts, strict=True):
        moved = torch.exp(model.log_psi(s[:, torch.as_tensor(perm)]).to(torch.complex128))
        torch.testing.assert_close(moved, np.exp(1j * float(k @ shift)) * psi,
                                   rtol=1e-9, atol=1e-12)


def test_factory_optimizer_sr_and_annealing():
    _, vmc = _build(["vmc.optimizer=sgd", "vmc.sr=sr", "vmc.sr_shift=0.02",
                     "vmc.sr_shift_rel=0.1", "vmc.sr_solver=cg", "vmc.sr_max_norm=3.0",
                     "vmc.annealing=exponential", "vmc.T0=0.7", "vmc.annealing_warmup=5",
                     "vmc.annealing_steps=50", "vmc.n_steps=100", "vmc.lr=0.05"])
    assert type(vmc.optimizer) is torch.optim.SGD
    assert vmc.optimizer.param_groups[0]["lr"] == 0.05
    assert vmc.sr == SRStep(diag_shift=0.02, diag_shift_rel=0.1, mode="sr", solver="cg",
                            max_norm=3.0)
    assert vmc.annealing == AnnealingSchedule(T0=0.7, n_warmup=5, n_anneal=50,
                                              kind="exponential")
    _, vmc = _build(["vmc.sr=minsr"])
    assert type(vmc.optimizer) is torch.optim.Adam and vmc.sr.max_norm is None


def test_tiny_2d_run_with_sr_and_annealing():
    torch.manual_seed(0)
    cfg, vmc = _build(["system.lattice=square", "system.Lx=2", "system.Ly=2",
                       "system.model=heisenberg", "wavefunction.kind=rnn2d",
                       "wavefunction.magnetisation=0", "vmc.optimizer=sgd", "vmc.sr=minsr",
                       "vmc.lr=0.05", "vmc.annealing=linear", "vmc.T0=0.5",
                       "vmc.annealing_steps=3", "vmc.n_steps=6", "vmc.n_samples=32"])
    vmc.run(cfg.vmc.n_steps, progress=False)
    assert vmc.step_count == 6 and vmc.temperature == 0.0
    assert all(np.isfinite([r.energy for r in vmc.history]))


def test_example_configs_build():
    for name in ("heisenberg_square_4x4.toml", "j1j2_chain.toml"):
        cfg = load_vmc_config(EXAMPLES / name, overrides=["vmc.n_samples=8"])
        vmc = factory.build_vmc(cfg, build_system(cfg.system), CPU)
        assert vmc.model.n_sites == cfg.system.n_sites


# ------------------------------------------------------------------------------ the CLI
def test_cli_runs_a_square_lattice(tmp_path, capsys):
    """``physrnn vmc`` on a 3x3 Heisenberg square with the 2D RNN, minSR and annealing."""
    from physrnn.cli import main

    cfg = write(tmp_path, '[system]\nmodel = "heisenberg"\nlattice = "square"\nLx = 3\nLy = 3\n'
                          '[wavefunction]\nkind = "rnn2d"\nhidden_size = 6\nmagnetisation = 1\n'
                          '[vmc]\nn_steps = 4\nn_samples = 32\nfinal_samples = 200\n'
                          'optimizer = "sgd"\nsr = "minsr"\nannealing = "linear"\nT0 = 0.2\n'
                          'annealing_steps = 2\n[run]\ncheckpoint_every = 2\nthreads = 1\n')
    out = tmp_path / "run"
    assert main(["vmc", str(cfg), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["n_sites"] == 9
    assert summary["n_steps"] == 4 and summary["reference_kind"] == "exact"
    assert summary["system"].startswith("heisenberg square 3x3")
    from physrnn.runs.records import read_record

    rec = read_record(out / "record.h5")
    assert rec.config["system"]["lattice"] == "square"
    assert rec.config["wavefunction"]["magnetisation"] == 1
    assert "relative error" in capsys.readouterr().out
