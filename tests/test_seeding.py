"""physrnn.seeding.derive_seed: one recipe for derived streams, equal to numpy SeedSequence."""

from __future__ import annotations

import numpy as np
import pytest

from physrnn.seeding import SEED_BITS, derive_seed

MASK63 = (1 << 63) - 1


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 1, 2**32 + 5, 2**63 - 1])
def test_equals_seed_sequence_for_the_documented_recipe(seed):
    for key in [(seed,), (seed, 0), (seed, 3, 2), (seed, 10**6, 1)]:
        for spawn in [(), (1,), (4, 2)]:
            ss = np.random.SeedSequence(list(key), spawn_key=spawn)
            assert derive_seed(*key, spawn_key=spawn) == \
                int(ss.generate_state(1, np.uint64)[0]) & MASK63
            assert derive_seed(*key, spawn_key=spawn, bits=64) == \
                int(ss.generate_state(1, np.uint64)[0])
            assert derive_seed(*key, spawn_key=spawn, bits=32) == \
                int(ss.generate_state(1, np.uint32)[0])
            assert derive_seed(*key, spawn_key=spawn, bits=20) == \
                int(ss.generate_state(1, np.uint32)[0]) & ((1 << 20) - 1)


def test_an_integer_seed_and_a_one_element_key_are_the_same_stream():
    """``rank_seed`` used ``SeedSequence(seed, ...)``, the others ``SeedSequence([seed, ...])``."""
    for seed in (0, 5, 2**40 + 3):
        ss = np.random.SeedSequence(seed, spawn_key=(3,))
        assert derive_seed(seed, spawn_key=(3,)) == \
            int(ss.generate_state(1, np.uint64)[0]) & MASK63


def test_deterministic_distinct_and_in_range():
    seeds = [derive_seed(11, step, tag, spawn_key=(block,))
             for step in range(20) for tag in (1, 2) for block in range(5)]
    seeds += [derive_seed(11, k) for k in range(20)] + [derive_seed(11, spawn_key=(r,))
                                                        for r in range(1, 20)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**SEED_BITS for s in seeds)
    assert derive_seed(11, 3, 2, spawn_key=(1,)) == derive_seed(11, 3, 2, spawn_key=(1,))
    assert derive_seed(11, 1) != derive_seed(1, 11)  # the key is ordered
    assert all(0 <= derive_seed(11, k, bits=32) < 2**32 for k in range(20))


def test_bad_keys_are_refused():
    with pytest.raises(ValueError, match="at least one key"):
        derive_seed()
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(-1)
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(1, spawn_key=(-2,))
    for bits in (0, 65, True):
        with pytest.raises(ValueError, match="bits"):
            derive_seed(1, bits=bits)
