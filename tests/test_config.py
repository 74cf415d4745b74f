"""Strict TOML config loading and --set overrides."""

from __future__ import annotations

import pytest

from physrnn.config import apply_overrides, from_dict, load_config, to_dict, to_toml
from physrnn.errors import ConfigError
from physrnn.vmc.config import VMCRunConfig, load_vmc_config


def write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_and_roundtrip(tmp_path):
    cfg = load_vmc_config(None)
    assert cfg == VMCRunConfig()
    p = write(tmp_path, to_toml(cfg))
    assert load_vmc_config(p) == cfg
    assert from_dict(VMCRunConfig, to_dict(cfg)) == cfg


def test_file_values(tmp_path):
    p = write(tmp_path, '[system]\nmodel = "heisenberg"\nn_sites = 12\nboundary = "periodic"\n'
                       "[vmc]\nlr = 3e-3\nn_steps = 7\n[wavefunction]\nphase = true\n")
    cfg = load_vmc_config(p)
    assert cfg.system.model == "heisenberg" and cfg.system.n_sites == 12
    assert cfg.vmc.lr == 3e-3 and cfg.vmc.n_steps == 7 and cfg.wavefunction.phase is True
    assert cfg.run == VMCRunConfig().run


def test_int_accepted_for_float(tmp_path):
    cfg = load_vmc_config(write(tmp_path, "[system]\nh = 2\n"))
    assert cfg.system.h == 2.0 and isinstance(cfg.system.h, float)


@pytest.mark.parametrize(
    "text, match",
    [
        ("[vmc]\nlearning_rate = 0.1\n", r"c\.toml: unknown key 'vmc\.learning_rate'"),
        ("[optimizer]\nlr = 0.1\n", r"unknown key 'optimizer'"),
        ('[system]\nn_sites = "20"\n', r"c\.toml.*'system\.n_sites'.*integer"),
        ("[system]\nn_sites = 20.0\n", r"'system\.n_sites'.*integer"),
        ("[system]\nmarshall_sign = 1\n", r"'system\.marshall_sign'.*true or false"),
        ("[system]\nn_sites = true\n", r"'system\.n_sites'.*integer"),
        ('[system]\nboundary = "twisted"\n', r"'system\.boundary'.*'open', 'periodic'"),
        ("[system]\nn_sites = -4\n", r"c\.toml: key 'system\.n_sites': must be >= 2"),
        ("[wavefunction]\nhidden_size = 0\n", r"'wavefunction\.hidden_size': must be >= 1"),
        ("[vmc]\nlr = -1.0\n", r"'vmc\.lr': must be > 0"),
        ('[run]\ndevice = "tpu"\n', r"'run\.device'"),
        ("system = 3\n", r"\[system\] must be a table"),
        ("[system\nn_sites = 3\n", r"not valid TOML"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_vmc_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_vmc_config(tmp_path / "nope.toml")


def test_overrides(tmp_path):
    p = write(tmp_path, "[vmc]\nlr = 0.1\n")
    cfg = load_vmc_config(p, overrides=["vmc.lr=2e-3", "system.boundary=periodic",
                                    'wavefunction.cell="lstm"', "system.n_sites=8"])
    assert cfg.vmc.lr == 2e-3 and cfg.system.boundary == "periodic"
    assert cfg.wavefunction.cell == "lstm" and cfg.system.n_sites == 8
    with pytest.raises(ConfigError, match="unknown key 'vmc.nsteps'"):
        load_vmc_config(p, overrides=["vmc.nsteps=3"])
    with pytest.raises(ConfigError, match="section.key"):
        apply_overrides({}, ["lr=3"])
    with pytest.raises(ConfigError, match="'vmc.n_steps'.*integer"):
        load_vmc_config(None, overrides=["vmc.n_steps=many"])


def test_frozen():
    cfg = VMCRunConfig()
    with pytest.raises(AttributeError):
        cfg.vmc.lr = 1.0  # type: ignore[misc]


def test_resume_treats_keys_missing_from_old_checkpoints_as_defaults(tmp_path):
    """A checkpoint written before a key existed resumes when the key has its default value,
    and is refused when the current config sets the key to something else."""
    from physrnn.config import check_resumable, from_dict, to_dict

    config = VMCRunConfig()
    saved = to_dict(config)
    del saved["vmc"]["sr"]
    check_resumable(saved, config, tmp_path / "checkpoint.pt")
    changed = from_dict(VMCRunConfig, {"vmc": {"sr": "minsr", "optimizer": "sgd"}})
    with pytest.raises(ConfigError, match="vmc.sr"):
        check_resumable(saved, changed, tmp_path / "checkpoint.pt")


@pytest.mark.parametrize(
    "text, match",
    [
        (f"[system]\nn_sites = {10**30}\n", r"c\.toml: key 'system\.n_sites': integer .* 64-bit"),
        (f"[system]\nh = {2**63}\n", r"'system\.h': integer .* 64-bit"),
        (f"[run]\nseed = {-(2**63) - 1}\n", r"'run\.seed': integer .* 64-bit"),
        (f"[wavefunction]\nmomentum = [1, {2**64}]\n", r"'wavefunction\.momentum\[1\]'"),
        ("[system]\nh = nan\n", r"'system\.h': must be a finite number, got nan"),
        ("[system]\nJ = -inf\n", r"'system\.J': must be a finite number, got -inf"),
        ("[vmc]\nlr = inf\n", r"'vmc\.lr': must be a finite number"),
        ("[vmc]\nsr_max_norm = inf\n", r"'vmc\.sr_max_norm': must be a finite number"),
        ("[run]\nthreads = 100000\n", r"'run\.threads': must be <= 1024"),
    ],
)
def test_huge_integers_non_finite_numbers_and_too_many_threads_are_refused(tmp_path, text,
                                                                            match):
    """tomllib reads integers of any size and nan/inf; the loader refuses them (before, h = nan
    ended in a traceback, lr = inf in a run of NaN energies, and threads = 100000 crashed
    torch)."""
    with pytest.raises(ConfigError, match=match):
        load_vmc_config(write(tmp_path, text))


def test_limits_apply_to_overrides_and_keep_the_edges(tmp_path):
    with pytest.raises(ConfigError, match=r"--set .*'vmc\.n_samples': integer .* 64-bit"):
        load_vmc_config(None, overrides=[f"vmc.n_samples={10**30}"])
    with pytest.raises(ConfigError, match=r"'system\.h': must be a finite number"):
        load_vmc_config(None, overrides=["system.h=-inf"])
    cfg = load_vmc_config(write(tmp_path, f"[run]\nseed = {2**63 - 1}\nthreads = 1024\n"))
    assert cfg.run.seed == 2**63 - 1 and cfg.run.threads == 1024


@pytest.mark.parametrize(
    "text, match",
    [
        ("[train]\nweight_decay = -0.1\n", r"'train\.weight_decay': must be >= 0"),
        ("[eval]\nesn_configs = 0\n", r"'eval\.esn_configs': must be >= 1"),
        ("[eval]\nhorizon_lyapunov = inf\n", r"'eval\.horizon_lyapunov': must be a finite"),
        ("[readout]\nridges = [0.0, nan]\n", r"'readout\.ridges'\[1\]: must be a finite"),
        (f"[train]\nepochs = {10**20}\n", r"'train\.epochs': integer .* 64-bit"),
    ],
)
def test_train_config_refuses_what_used_to_fail_later(tmp_path, text, match):
    """A negative weight decay used to train (exit 0), esn_configs = 0 and an infinite horizon
    ended in tracebacks after training."""
    from physrnn.train.config import TrainRunConfig

    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text), cls=TrainRunConfig)


def test_card_values_beyond_64_bits_are_refused_in_nested_tables(tmp_path):
    from physrnn.data.cards import DatasetCard

    text = f"[system]\nname = \"lorenz63\"\n[system.params]\nrho = {10**40}\n"
    with pytest.raises(ConfigError, match=r"'system\.params\.rho': integer .* 64-bit"):
        load_config(write(tmp_path, text), cls=DatasetCard)
