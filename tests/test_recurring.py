"""Setups kept for matrices that come back (seqsolve.recurring): one solver, alternating operators."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from seqsolve import SequenceSolver
from seqsolve.recurring import RecurringSetups


def _laplacian(m: int, shift: float) -> sp.csr_array:
    T = sp.diags([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return sp.csr_array(sp.kronsum(T, T) + shift * sp.identity(m * m))


def test_a_fixed_factorisation_is_built_once_per_alternating_matrix():
    """Two matrices alternating (a splitting scheme, or a velocity and a pressure system through
    one solver) refactorised on every solve; now each is factorised at most twice (the third
    build is where the recurrence shows) and every later solve reuses its own factor."""
    mats = [_laplacian(30, 0.1), _laplacian(30, 2.0)]
    s = SequenceSolver(policy="fixed:direct")
    rng = np.random.default_rng(0)
    for k in range(20):
        A, b = mats[k % 2], rng.standard_normal(900)
        x = s.solve(A, b)
        np.testing.assert_allclose(x, splu(sp.csc_matrix(A)).solve(b), rtol=1e-9, atol=1e-12)
    builds = [k for k, r in enumerate(s.history) if not r.setup_reused]
    assert builds == [0, 1, 2]
    assert all(r.matrix_repeated for r in s.history[2:]) and not s.history[1].matrix_repeated


def test_new_matrices_keep_one_setup_and_a_user_can_reset():
    """A sequence whose matrices never come back holds one factorisation, as before."""
    s = SequenceSolver(policy="fixed:direct")
    for k in range(6):
        s.solve(_laplacian(12, 0.1 * (k + 1)), np.ones(144))
    assert not s._recurring._kept and not any(r.setup_reused for r in s.history)
    mats = [_laplacian(12, 0.1), _laplacian(12, 0.2), _laplacian(12, 0.3)]
    for k in range(9):  # three matrices in rotation: each kept once it came back
        s.solve(mats[k % 3], np.ones(144))
    assert all(r.setup_reused for r in s.history[-4:])
    s.reset()
    assert not s._recurring._kept


def test_kept_setups_are_bounded_and_let_go_when_unused():
    store = RecurringSetups(most=2, horizon=10)
    keys = [((f"m{i}",), i) for i in range(4)]  # (fingerprint, ...) as the solver's keys
    for i, key in enumerate(keys):
        store.give_back("lu", (key, f"factor{i}", i), now=i)
    assert list(store._kept["lu"]) == [keys[2], keys[3]]  # the least recently used went first
    assert store.find("lu", keys[3]) == ("factor3", 3) and keys[3] not in store._kept["lu"]
    assert store.ready(("m2",), before=5) == ["lu"] and store.ready(("m2",), before=2) == []
    store.give_back("lu", None, now=30)  # nothing used within the horizon: let go
    assert not store._kept["lu"]
    store.seen(("m9",), 40)
    assert store.came_back(("m9",), 45) and not store.came_back(("m9",), 200)


def test_auto_counts_a_matrix_that_came_back_as_repeated():
    """With a configuration that keeps such setups in its portfolio (SciPy's LU), ``auto`` is told
    that an alternating matrix repeats — its factor, once built, is a sunk cost — and the record
    says so; a fixed compiled method keeps nothing, and its records keep the strict meaning."""
    mats = [_laplacian(20, 0.1), _laplacian(20, 2.0)]
    s = SequenceSolver(seed=0)
    t = SequenceSolver(policy="fixed:numba-ssor-cg")
    for k in range(8):
        s.solve(mats[k % 2], np.ones(400))
        t.solve(mats[k % 2], np.ones(400))
    assert [r.matrix_repeated for r in s.history] == [False, False] + [True] * 6
    assert not any(r.matrix_repeated for r in t.history)


def test_a_matrix_another_configuration_solved_first_has_not_come_back():
    """A run of one matrix that another configuration started (an exploration on its first system)
    is no recurrence: the setup it replaces, of the last run's matrix, is let go.  Kept, PETSc's
    Cholesky made a new KSP for the next build and analysed the pattern again (426 ms, not 130)."""
    store = RecurringSetups()
    m40, m50 = ("m40",), ("m50",)
    store.seen(m40, 40)
    store.seen(m50, 50)  # solved by another configuration, then the factorisation's turn
    store.replaced("lu", ((m40,), "factor40", 40), (m50,), 51)
    assert not store._kept.get("lu")
    a, b = ("a",), ("b",)  # two matrices taking turns: the one replaced is kept
    store.seen(a, 60)
    store.seen(b, 61)
    store.replaced("lu", ((b,), "factor_b", 61), (a,), 62)
    assert store.find("lu", (b,)) == ("factor_b", 61)
