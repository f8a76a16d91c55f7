"""What ``initial_guess="auto"`` costs where no start pays: the chooser goes dormant (O(1) per
solve, the solver's lean path on ``previous``), tries a strategy only when the history says it
could pay (its span, the one-iteration floor), and still finds a projection where one pays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqsolve import SequenceSolver
from seqsolve.fixed_path import FixedCompiledPath
from seqsolve.guesses import GuessChooser
from seqsolve.guesses.bound import iterations_saved, span_errors
from seqsolve.guesses.hindsight import predicted_iterations
from seqsolve.problems import Heat2D

from conftest import poisson2d

AUTO = ["previous", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)"]


def _solves(chooser: GuessChooser, xs: list[np.ndarray], *, per: float = 1.0, tol: float = 1e-8,
            rate: float = 0.3, flat: int | None = None) -> tuple[list[str], list[bool]]:
    """Drive ``chooser`` through the solutions ``xs``: iterations from the start's error at a fixed
    ``rate`` (or ``flat`` from any start), ``per`` seconds an iteration (slow enough by default
    that the hindsight's measured cost never sets its stride: the choices are then deterministic).
    Returns the strategies used and whether each solve was dormant."""
    A = poisson2d(int(math.isqrt(xs[0].shape[0])))
    chosen, dormant = [], []
    for x in xs:
        b = A @ x  # (a projection's guess is computed from it)
        dormant.append(chooser.stored)
        x0, name = chooser.form(A, b, None)
        err = np.linalg.norm((0 * x if x0 is None else x0) - x) / np.linalg.norm(x)
        its = flat if flat is not None else max(1, int(math.ceil(math.log(max(err, tol) / tol) / -math.log(rate))))
        chosen.append(name)
        chooser.update(A, b, x, None)
        chooser.learn(1e-5 + per * (its + 1), its, 1e-5)
    return chosen, dormant


def _walk(steps: int, n: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Solutions that move by independent random steps: no combination of the past predicts the next."""
    rng = np.random.default_rng(seed)
    return list(5.0 + np.cumsum(0.01 * rng.standard_normal((steps, n)), axis=0))


def _subspace(steps: int, n: int = 64, dim: int = 3, seed: int = 1) -> list[np.ndarray]:
    """Solutions in a fixed ``dim``-dimensional space with random coefficients: nothing history-only
    predicts them, every projection onto ``dim`` past solutions is exact."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, dim))
    return [B @ (np.array([5.0, 0.0, 0.0]) + rng.standard_normal(dim)) for _ in range(steps)]


def test_the_span_errors_are_the_least_squares_fits():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((200, 4))
    xs = [B @ rng.standard_normal(4) + 1e-4 * rng.standard_normal(200) for _ in range(9)]
    prev, fits = span_errors(xs, [1, 2, 4, 8])
    x = xs[-1]
    assert prev == pytest.approx(np.linalg.norm(x - xs[-2]) / np.linalg.norm(x), rel=1e-10)
    for k in (1, 2, 4, 8):
        X = np.array(xs[-1 - k:-1]).T
        c = np.linalg.lstsq(X, x, rcond=None)[0]
        assert fits[k] == pytest.approx(np.linalg.norm(X @ c - x) / np.linalg.norm(x), rel=1e-3, abs=1e-12)
    assert fits[4] < 1e-3 < fits[2]  # four past solutions span the space, two do not
    assert span_errors(xs[:1], [4]) == (pytest.approx(math.nan, nan_ok=True), {})


def test_a_start_above_the_tolerance_needs_an_iteration():
    tol = 1e-8
    assert predicted_iterations(1, 1e-3, 1e-6, tol) == 1.0  # an exact solver: nothing to save
    assert predicted_iterations(20, 1e-3, 1e-6, tol, kappa=1.0) == pytest.approx(8.0)
    assert iterations_saved(1, 1e-3, 1e-7, tol) == 0.0
    assert iterations_saved(20, 1e-3, 1e-6, tol) == pytest.approx(12.0)
    assert iterations_saved(3, 1e-3, 1e-9, tol) == 3.0  # a start within the tolerance saves them all
    assert iterations_saved(5, 1e-9, 1e-3, tol) == 5.0  # the errors say nothing: no bound


def test_the_chooser_goes_dormant_where_no_start_pays():
    chooser = GuessChooser(AUTO)
    chosen, dormant = _solves(chooser, _walk(400))
    assert chooser.best_ == 0
    assert sum(dormant[200:]) >= 180  # nearly every solve: a few attribute updates, no arithmetic
    assert chosen.count("previous") >= 390
    # a dormant guess is previous's own vector (the solver's array, no copy)
    x = np.full(64, 7.0)
    chooser.update(None, None, x, None)
    chooser.learn(1.0, 3, 1e-5)
    if chooser.stored:
        assert chooser.form(None, np.zeros(64), None)[0] is x


def test_no_try_and_no_duel_where_every_solve_takes_one_iteration():
    # smooth solutions (an extrapolation's error is far smaller, though not within the tolerance),
    # but an exact solver: one iteration from any start, so no start can save anything
    t = np.arange(300)[:, None]
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 64))
    xs = list(5.0 + a * np.sin(0.02 * t) + b * (0.01 * t) ** 2 + 1e-6 * rng.standard_normal((300, 64)))
    chooser = GuessChooser(AUTO)
    chosen, dormant = _solves(chooser, xs, flat=1)
    assert set(chosen) == {"previous"}
    assert sum(dormant) >= 250


def test_a_projection_is_not_tried_before_it_has_its_solutions_nor_where_its_span_cannot_pay():
    chooser = GuessChooser(AUTO)
    chosen, _ = _solves(chooser, _walk(300))
    assert "projection(k=4)" not in chosen[:5] and "projection(k=8)" not in chosen[:9]
    assert chosen.count("projection(k=4)") + chosen.count("projection(k=8)") == 0  # random steps: no span pays


def test_a_projection_that_pays_is_still_found_early():
    chooser = GuessChooser(AUTO)
    chosen, _ = _solves(chooser, _subspace(120))
    assert chooser.arms[chooser.best_].name.startswith("projection")
    first = min(i for i, c in enumerate(chosen) if c.startswith("projection"))
    assert 4 <= first <= 12  # as soon as projection(k=4) has its four solutions and one to test with
    assert sum(c.startswith("projection") for c in chosen[-50:]) >= 45


def test_the_choices_are_deterministic():
    runs = [_solves(GuessChooser(AUTO), _subspace(150, seed=4)) for _ in range(2)]
    assert runs[0] == runs[1]
    runs = [_solves(GuessChooser(AUTO), _walk(150, seed=4)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_a_loaded_state_still_goes_dormant_and_saves_the_same():
    saved = {"candidates": AUTO, "scores": [0.0, 0.05, 0.3, 0.4], "rounds": 4, "best": 0}
    chooser = GuessChooser(AUTO).load_state_dict(saved)
    _, dormant = _solves(chooser, _walk(60))
    assert sum(dormant) >= 40
    assert chooser.state_dict()["candidates"] == AUTO and chooser.best_ == 0


def test_auto_takes_the_lean_fixed_path_while_dormant(monkeypatch):
    lean = []
    real = FixedCompiledPath.solve

    def counted(self, A, b, context, *args, **kwargs):
        x = real(self, A, b, context, *args, **kwargs)
        if x is not None:  # the record it appended: the index of a solve that took the lean path
            lean.append(len(self.solver.history) - 1)
        return x

    monkeypatch.setattr(FixedCompiledPath, "solve", counted)
    problem = Heat2D(nx=24, steps=120)
    solver = SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess="auto")
    for _ in range(120):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert np.linalg.norm(s.b - s.A @ x) <= 1e-8 * np.linalg.norm(s.b)
        problem.accept(x)
    assert len(solver.history) == 120 and len(lean) >= 60  # most solves took the lean path
    # each on the strategy the dormant chooser exploits (a stored previous, or an extrapolation
    # formed under the BLAS thread limit)
    assert all(solver.history[i].initial_guess in ("previous", solver._guesser.arms[0].name)
               or solver.history[i].initial_guess.startswith("extrapolate") for i in lean)


def test_a_projection_onto_more_solutions_is_priced_at_least_as_one_onto_fewer():
    chooser = GuessChooser(AUTO)
    assert chooser._known_forming(3) is None  # nothing measured: no bound
    chooser._guess_s[2] = 2e-3  # projection(k=4) measured
    assert chooser._known_forming(3) == 2e-3 and chooser._known_forming(2) == 2e-3
    chooser._guess_s[3] = 3e-3
    assert chooser._known_forming(3) == 3e-3
    chooser._base = 1e-3  # a whole solve costs less than forming either: neither is tried again
    assert chooser._hopeless(2) and chooser._hopeless(3)


def test_a_deferred_solve_gets_the_exploited_strategy_and_scores_nothing():
    """While the solver's policy explores a configuration the chooser starts or continues no try
    (two learners trying at once confound each other), yet still stores the solution."""
    xs = _subspace(40)
    A = poisson2d(int(math.isqrt(xs[0].shape[0])))
    plain, deferred = GuessChooser(AUTO), GuessChooser(AUTO)
    names = []
    for t, x in enumerate(xs):
        b = A @ x
        for chooser in (plain, deferred):
            if chooser is deferred and t % 2:
                chooser.defer()
            rounds, queue, scores = chooser.rounds_, list(chooser._queue), chooser.scores_.copy()
            x0, name = chooser.form(A, b, None)
            if chooser is deferred and t % 2:
                names.append(name)
                assert name == chooser.arms[chooser.best_].name and chooser._queue == queue
            err = np.linalg.norm((0 * x if x0 is None else x0) - x) / np.linalg.norm(x)
            its = max(1, int(math.ceil(math.log(max(err, 1e-8) / 1e-8) / -math.log(0.3))))
            chooser.update(A, b, x, None)
            chooser.learn(1e-5 + its + 1, its, 1e-5)
            if chooser is deferred and t % 2:
                np.testing.assert_array_equal(chooser.scores_, scores)
                assert chooser.rounds_ == rounds
    assert deferred._received == plain._received == len(xs)  # every solution stored
    assert deferred.arms[deferred.best_].name.startswith("projection")  # the even solves still found it


def test_strategies_that_would_pass_the_memory_limit_are_left_out():
    """auto's candidates plan ~40 vectors of n; above the limit the ones needing products with A
    (projections: 2k vectors each) are left out at the first solve, the history-only ones stay."""
    from seqsolve.guesses.chooser import MEMORY_LIMIT

    chooser = GuessChooser(AUTO)
    planned = chooser._keep + sum(a.planned_vectors for a in chooser.arms)
    assert 30 <= planned <= 50
    assert 2e6 < MEMORY_LIMIT / (8 * planned) < 5e6  # the default: millions of unknowns
    small = GuessChooser(AUTO, memory_limit=8 * 64 * 20)  # 20 vectors of n = 64
    chosen, _ = _solves(small, _subspace(60))
    assert small.left_out_ == ["projection(k=4)", "projection(k=8)"]
    assert not any(c.startswith("projection") for c in chosen)
    assert small.memory_vectors <= 20
    roomy = GuessChooser(AUTO)
    chosen, _ = _solves(roomy, _subspace(60))
    assert roomy.left_out_ == [] and any(c.startswith("projection") for c in chosen)


def test_a_start_is_judged_only_on_systems_the_chosen_configuration_solved(monkeypatch):
    """The strategies' costs compare under one configuration: a system where the policy explored
    another one (another ω changes the iterations as much as a start does) or fell back teaches the
    chooser nothing.  On a Crank–Nicolson sequence with ω explored on 8 % of its systems, a
    projection scored on them was exploited on a third of the sequence, 2.7x the extrapolation's
    forming.  Here a policy that explores every third system: the chooser learns from the others."""
    from seqsolve.policies import FixedPolicy

    class EveryThird(FixedPolicy):
        def __init__(self) -> None:
            super().__init__("cg")  # (SciPy CG: no lean path, every system through the policy)
            self.k = 0

        def select(self, context=None, **kwargs):
            self.k += 1
            return super().select(context, **kwargs)

        def explored(self) -> bool:
            return self.k % 3 == 0

    solver = SequenceSolver(policy=EveryThird(), initial_guess="auto", rtol=1e-8)
    learned = []  # the index of each system the chooser learned from (its record is appended after)
    original = solver._guesser.learn
    monkeypatch.setattr(solver._guesser, "learn",
                        lambda *args, **kwargs: (learned.append(len(solver.history)), original(*args, **kwargs)))
    problem = Heat2D(nx=12, steps=30)
    problem.reset()
    for _ in range(30):
        system = problem.system()
        problem.accept(solver.solve(system.A, system.b))
    explored = {r.index for r in solver.history if r.explored}
    assert len(explored) == 10 and learned
    assert not explored & set(learned)
