"""The drift of a conserved quantity (physrnn.metrics.invariants)."""

import numpy as np
import pytest

from physrnn.metrics import invariant_drift


def test_invariant_drift():
    t = np.linspace(0.0, 10.0, 101)
    const = np.full((2, 101), -3.5)
    assert np.all(invariant_drift(const) == 0.0)
    ramp = 2.0 * (1.0 + 0.01 * t)  # relative change 0.1 over the run
    values = np.stack([ramp, np.full(101, -2.0)])
    assert np.allclose(invariant_drift(values), [0.1, 0.0])
    assert np.allclose(invariant_drift(values, relative=False), [0.2, 0.0])
    both = np.stack([values, 2 * values], axis=-1)
    assert invariant_drift(both).shape == (2, 2)
    assert np.allclose(invariant_drift(both)[:, 1], [0.1, 0.0])
    with pytest.raises(ValueError, match="initial value is 0"):
        invariant_drift(np.zeros((1, 5)))
