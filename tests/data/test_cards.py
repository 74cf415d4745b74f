"""Dataset cards and the `physrnn data` command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physrnn.cli import main
from physrnn.data.cards import generate_from_card, load_card
from physrnn.data.hdf5 import check_dataset, read_dataset
from physrnn.errors import ConfigError

CARDS = sorted((Path(__file__).resolve().parents[2] / "datasets").glob("*.toml"))


def test_cards_exist():
    names = {p.stem for p in CARDS}
    assert {"lorenz63", "lorenz96", "kuramoto_sivashinsky", "ornstein_uhlenbeck", "pendulum",
            "heavy_particle_bath"} <= names


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_every_card_generates_a_valid_file(card_path, tmp_path):
    """Each shipped card loads strictly and produces a valid file (shrunk to a few points)."""
    card = load_card(card_path)
    dt = card.simulation.dt or 0.1
    small = load_card(card_path, overrides=[
        "simulation.n_traj=3", f"simulation.t_final={10 * dt}", "simulation.transient=0.0",
        "simulation.workers=1"])
    out = generate_from_card(small, tmp_path / "d.h5", progress=False)
    check_dataset(out)
    data = read_dataset(out)
    assert data.y.shape[0] == 3 and data.y.shape[1] == 11
    assert data.meta["system"] == card.system.name
    assert "[system]" in data.meta["recipe"]
    assert np.all(np.isfinite(data.y))


def test_card_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[system]\nname = "lorenz63"\n[simulation]\nntraj = 3\n')
    with pytest.raises(ConfigError, match="unknown key 'simulation.ntraj'"):
        load_card(bad)
    bad.write_text("[splits]\ntrain = 0.5\nval = 0.1\ntest = 0.1\n")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_card(bad)
    bad.write_text('[system]\nname = "lorenz64"\n')
    with pytest.raises(ConfigError, match="unknown system 'lorenz64'"):
        generate_from_card(load_card(bad), tmp_path / "x.h5", progress=False)
    bad.write_text('[system]\nname = "lorenz63"\n[system.params]\nrh0 = 3.0\n')
    with pytest.raises(ConfigError, match="rh0"):
        generate_from_card(load_card(bad), tmp_path / "x.h5", progress=False)


def test_data_cli_generate_info_and_no_clobber(tmp_path, capsys):
    card = str(Path(__file__).resolve().parents[2] / "datasets" / "lorenz63.toml")
    out = tmp_path / "l63.h5"
    small = ["--set", "simulation.n_traj=3", "--set", "simulation.t_final=1.0",
             "--set", "simulation.transient=1.0", "--set", "simulation.workers=1", "--quiet"]
    assert main(["data", "generate", card, "--out", str(out), *small]) == 0
    text = capsys.readouterr().out
    assert "lorenz63" in text and "Lyapunov" in text
    before = out.read_bytes()
    assert main(["data", "generate", card, "--out", str(out), *small]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["data", "info", str(out)]) == 0
    assert "DOP853" in capsys.readouterr().out
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    assert main(["data", "info", str(junk)]) == 2
    assert "physrnn: error:" in capsys.readouterr().err
    assert main(["data", "systems"]) == 0
    listing = capsys.readouterr().out
    for name in ("lorenz63", "kuramoto_sivashinsky", "spin_quench", "heavy_particle_bath"):
        assert name in listing
