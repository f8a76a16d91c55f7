"""``extrapolate(order, alternating)``: exact on polynomial plus sign-flipping sequences, and what it
buys on a Crank–Nicolson sequence with stiff modes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import ConfigurationError, SequenceSolver
from seqsolve.guesses import Extrapolate, parse_guess
from seqsolve.guesses.extrapolate import weights

from conftest import poisson2d


@pytest.mark.parametrize("order, alternating, expected", [
    (1, 0, (2.0, -1.0)),
    (2, 0, (3.0, -3.0, 1.0)),
    (1, 1, (1.0, 1.0, -1.0)),
    (2, 1, (2.0, 0.0, -2.0, 1.0)),
    (3, 1, (3.0, -2.0, -2.0, 3.0, -1.0)),
    (1, 2, (0.0, 2.0, 0.0, -1.0)),
])
def test_weights_are_those_of_the_recurrence(order, alternating, expected):
    w = weights(order, alternating)
    assert w == expected
    assert abs(sum(w) - 1.0) < 1e-15  # a constant sequence is reproduced
    # independent check: the recurrence annihilates n^j (j <= order) and (-1)^n n^j (j < alternating)
    n = np.arange(len(w) + 1, dtype=float)[::-1]  # n of the new value first, then the history, newest first
    for seq in [n**j for j in range(order + 1)] + [(-1.0) ** n * n**j for j in range(alternating)]:
        assert abs(seq[0] - np.dot(w, seq[1:])) <= 1e-9 * max(1.0, abs(seq).max())


@pytest.mark.parametrize("order, alternating", [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2)])
def test_exact_on_a_drift_plus_a_flipping_component(order, alternating):
    rng = np.random.default_rng(4)
    n_unknowns = 50
    P = rng.standard_normal((n_unknowns, order + 1))  # x(n) = sum_j P_j n^j + (-1)^n sum_j Q_j n^j
    Q = rng.standard_normal((n_unknowns, alternating))
    seq = [P @ (float(n) ** np.arange(order + 1)) + (-1.0) ** n * (Q @ (float(n) ** np.arange(alternating)))
           for n in range(12)]
    g = Extrapolate(order=order, alternating=alternating)
    b = np.zeros(n_unknowns)
    assert g.form(None, b) is None  # nothing stored yet: the solver cold-starts
    for n in range(11):
        g.update(None, b, seq[n])
        x0 = g.form(None, b)
        if n + 1 >= order + 1 + alternating:  # the window is full: exact
            assert np.linalg.norm(x0 - seq[n + 1]) <= 1e-9 * np.linalg.norm(seq[n + 1])
        else:  # too short: the warm start, a copy
            assert np.array_equal(x0, seq[n]) and x0 is not seq[n]
    # the plain polynomial of the same degree multiplies the flipping part instead
    plain = Extrapolate(order=order)
    for n in range(11):
        plain.update(None, b, seq[n])
    assert np.linalg.norm(plain.form(None, b) - seq[11]) > 1e-3 * np.linalg.norm(seq[11])


def test_a_new_size_starts_over():
    g = Extrapolate(order=1, alternating=1)
    for k in range(3):
        g.update(None, None, np.full(5, float(k)))
    assert g.memory_vectors == 3
    g.update(None, None, np.ones(7))
    assert g.memory_vectors == 1
    assert np.array_equal(g.form(None, np.zeros(7)), np.ones(7))
    assert g.form(None, np.zeros(5)) is None  # a stored vector of another length is never used
    g.reset()
    assert g.memory_vectors == 0


def test_specs():
    assert parse_guess("extrapolate(3, alternating=1)").name == "extrapolate(order=3,alternating=1)"
    assert parse_guess("extrapolate(2,1)").name == "extrapolate(order=2,alternating=1)"
    assert parse_guess("extrapolate(order=2,alternating=0)").name == "extrapolate(order=2)"
    for bad, words in [("extrapolate(order=5)", "order must be 1 to 4"),
                       ("extrapolate(order=2,alternating=3)", "alternating must be 0 to 2"),
                       ("extrapolate(order=2,alternating=-1)", "alternating must be 0 to 2")]:
        with pytest.raises(ConfigurationError, match=words):
            parse_guess(bad)


def _crank_nicolson(mu: float = 400.0, m: int = 20):
    """A stiff Crank–Nicolson step with a forcing that moves: ``(I + μ/2 K) x⁺ = (I − μ/2 K) x + f(n)``,
    ``K`` the 5-point Laplacian scaled to eigenvalues in (0, 2), so amplifications run from ≈ 1
    down to ≈ −0.995.  Returns ``A``, ``B`` and ``f``."""
    K = sp.csr_matrix(poisson2d(m), dtype=float) / 4.0  # diagonal 4: eigenvalues in (0, 8) / 4
    identity = sp.identity(K.shape[0], format="csr")
    A, B = (identity + mu / 2 * K).tocsr(), (identity - mu / 2 * K).tocsr()
    g = np.linspace(0, 1, m)
    X, Y = np.meshgrid(g, g, indexing="ij")

    def f(n: int) -> np.ndarray:
        t = 0.02 * n
        return 0.1 * np.exp(-((X - 0.5 - 0.25 * np.cos(t)) ** 2 + (Y - 0.5 - 0.25 * np.sin(t)) ** 2) / 0.02).ravel()
    return A, B, f


def test_on_a_stiff_crank_nicolson_sequence_it_saves_iterations_and_keeps_the_contract():
    specs = ["previous", "extrapolate(order=3)", "extrapolate(order=3,alternating=1)"]
    solvers = {s: SequenceSolver(rtol=1e-8, policy="fixed:cg", initial_guess=s) for s in specs}
    A, B, f = _crank_nicolson()
    x = np.random.default_rng(5).standard_normal(A.shape[0])  # rough data: the stiff modes ring
    for n in range(60):
        b = B @ x + f(n)
        for s, solver in solvers.items():
            xs = solver.solve(A, b)
            assert np.linalg.norm(b - A @ xs) <= 1e-8 * np.linalg.norm(b)  # the true residual
            if s == "previous":
                x = xs
    iters = {s: sum(r.iterations for r in solvers[s].history[10:]) for s in specs}
    assert solvers[specs[2]].history[-1].initial_guess == specs[2]
    # measured 2112 / 2474 / 2290: the plain polynomial pays for the flipping stiff modes
    assert iters[specs[2]] < 0.95 * iters["previous"]
    assert iters[specs[2]] < 0.9 * iters[specs[1]]
