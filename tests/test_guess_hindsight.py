"""Hindsight scoring of history-only guesses: the replayed error is the error of the real guess,
the iteration model behaves as documented, and the chooser finds an extrapolation through solves
whose cost jumps with an AMG-like rebuild cycle, without ever trying one that does not pay."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqsolve import SequenceSolver
from seqsolve.guesses import GuessChooser, parse_guess
from seqsolve.guesses.hindsight import Hindsight, predicted_iterations
from seqsolve.problems import Heat2D

from conftest import poisson2d


@pytest.mark.parametrize("spec", ["previous", "zero", "extrapolate(order=1)", "extrapolate(order=2)",
                                  "extrapolate(order=4,alternating=1)"])
def test_the_hindsight_error_is_the_error_of_actually_forming_the_guess(spec):
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(40) for _ in range(9)]
    arm, judge = parse_guess(spec), Hindsight([parse_guess(spec)])
    for t, x in enumerate(xs):
        g = arm.form(None, np.zeros(40))  # what the strategy would start system t from
        seen = judge.judge(x)
        if t == 0:
            assert seen is None  # nothing known before the first solution
        else:
            real = np.linalg.norm((np.zeros(40) if g is None else g) - x) / np.linalg.norm(x)
            assert seen[0][0] == pytest.approx(real, rel=1e-12)
            assert seen[0][1] >= 0.0
        arm.update(None, None, x)


def test_strategies_that_need_a_matrix_are_not_judged_in_hindsight():
    judge = Hindsight([parse_guess("previous"), parse_guess("projection(k=2)"), parse_guess("pod(k=2)")])
    assert judge.free == [True, False, False]
    judge.judge(np.ones(5))
    seen = judge.judge(2 * np.ones(5))
    assert seen[0][0] == pytest.approx(0.5) and seen[1] is None and seen[2] is None


def test_the_iteration_model():
    tol = 1e-8
    # equal errors, or no change kept (kappa = 0): the same iterations
    assert predicted_iterations(20, 1e-3, 1e-3, tol) == pytest.approx(20)
    assert predicted_iterations(20, 1e-3, 1e-5, tol, kappa=0.0) == pytest.approx(20)
    # kappa = 1 is the uniform rate: iterations in proportion to the e-folds to remove
    assert predicted_iterations(20, 1e-4, 1e-6, tol, kappa=1.0) == pytest.approx(20 * 2 / 4)
    # kappa = 1/2 keeps half the change, both ways
    assert predicted_iterations(20, 1e-4, 1e-6, tol) == pytest.approx(15)
    assert predicted_iterations(20, 1e-4, 1e-2, tol) == pytest.approx(25)
    # a start already at the tolerance cannot be beaten; nothing known scales nothing
    assert predicted_iterations(20, 1e-4, 1e-12, tol, kappa=1.0) == pytest.approx(0)
    assert predicted_iterations(3, 1e-9, 1e-12, tol) == 3


# ----------------------------------------------------------------------------- the chooser
def _fake_solves(chooser: GuessChooser, xs: list[np.ndarray], *, cycle=(1.0, 1.3, 1.7, 2.2), rate=0.3,
                 tol=1e-8, guess_cost=None, flat: int | None = None) -> list[str]:
    """Drive ``chooser`` through the solutions ``xs`` with a model solver: the iterations follow
    the start's error at a fixed rate, times a factor that cycles like a stale AMG hierarchy's,
    at 1 ms per iteration (or ``flat`` iterations from any start); ``guess_cost`` maps a strategy
    to its forming seconds."""
    A = poisson2d(int(math.isqrt(xs[0].shape[0])))
    chosen = []
    for t, x in enumerate(xs):
        b = np.zeros_like(x)
        x0, name = chooser.form(A, b, None)
        err = np.linalg.norm((0 * x if x0 is None else x0) - x) / np.linalg.norm(x)
        its = flat if flat is not None else int(math.ceil(
            cycle[t % len(cycle)] * math.log(max(err, tol) / tol) / -math.log(rate)))
        chosen.append(name)
        g = (guess_cost or {}).get(name, 1e-5)
        chooser.update(A, b, x, None)
        chooser.learn(g + 1e-3 * (its + 1), its, g)
    return chosen


def _smooth(steps: int, n: int = 64, seed: int = 0) -> list[np.ndarray]:
    """A solution that moves smoothly in time (quadratically, with a slow oscillation)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.standard_normal((3, n))
    return [5.0 + a * np.sin(0.02 * t) + b * (0.01 * t) ** 2 + 1e-3 * c * np.cos(0.05 * t) for t in range(steps)]


def test_chooser_finds_the_extrapolation_through_a_rebuild_cycle():
    xs = _smooth(200)
    chooser = GuessChooser(["previous", "extrapolate(order=2)"])
    chosen = _fake_solves(chooser, xs)
    assert chooser.arms[chooser.best_].name == "extrapolate(order=2)"
    assert chosen[-150:].count("extrapolate(order=2)") >= 140  # the rest: the default's share of duels
    assert chooser.scores_[1] < -0.2  # judged clearly cheaper, not by a hair
    # the duels measured the model solver's rate: the uniform one (kappa 1), up to the ceil()
    assert 0.7 <= chooser.kappa_ <= 1.3


def test_chooser_never_tries_an_extrapolation_that_does_not_pay():
    rng = np.random.default_rng(2)
    x, xs = np.full(64, 5.0), []
    for _ in range(200):  # a random walk: extrapolating its steps doubles the error
        x = x + 1e-2 * rng.standard_normal(64)
        xs.append(x)
    chooser = GuessChooser(["previous", "extrapolate(order=2)", "extrapolate(order=4,alternating=1)"])
    chosen = _fake_solves(chooser, xs)
    assert set(chosen) == {"previous"}  # judged in hindsight: no try was needed to know
    assert chooser.scores_[1] > 0.02 and chooser.scores_[2] > chooser.scores_[1]  # dearer, the longer the dearer


def test_duels_catch_a_hindsight_that_over_promises():
    # iterations that do not follow the start's error (Heat2D's first 500 steps: 6-9 iterations
    # from any start, though the extrapolation's error is 8x smaller): the duels measure kappa ~ 0,
    # and an extrapolation that costs more to form than previous is dropped
    xs = _smooth(300)
    chooser = GuessChooser(["previous", "extrapolate(order=2)"])
    chosen = _fake_solves(chooser, xs, flat=8, guess_cost={"extrapolate(order=2)": 3e-4})
    assert chooser._duels >= 1 and chooser.best_ == 0
    assert chooser.kappa_ < 0.05  # the duels measured no change
    assert chosen[-100:].count("extrapolate(order=2)") <= 4  # a duel's share at most


def test_kappa_is_measured_per_difficulty_so_a_hard_phase_gets_its_own_verdict():
    """Heat2D nx=200 over 5000 steps alternates phases: where solves take ~10 iterations an 8x
    smaller start error buys none (the extrapolation even costs one more), where they take ~30 it
    saves a quarter.  One kappa, measured 0 in the easy phase, held the extrapolation back through
    the hard one (`auto` 1.00x `previous` where the extrapolation alone cost 0.90x).  Measured per
    difficulty, the hard phase gets a duel of its own as it starts, and the extrapolation."""
    xs = _smooth(600)
    A = poisson2d(8)
    chooser = GuessChooser(["previous", "extrapolate(order=2)"])
    tol, chosen = 1e-8, []
    for t, x in enumerate(xs):
        b = np.zeros_like(x)
        x0, name = chooser.form(A, b, None)
        err = np.linalg.norm((0 * x if x0 is None else x0) - x) / np.linalg.norm(x)
        if t >= 300:  # hard: the uniform rate, iterations follow the e-folds the start leaves
            its = int(math.ceil(math.log(max(err, tol) / tol) / -math.log(0.75)))
        else:  # easy: ten from any start; a start other than the last solution costs one more
            its = 10 + (name != "previous")
        chosen.append(name)
        chooser.update(A, b, x, None)
        chooser.learn(1e-5 + 1e-3 * (its + 1), its, 1e-5)
    assert chosen[150:300].count("extrapolate(order=2)") <= 10  # the easy phase: duels only
    assert chosen[450:].count("extrapolate(order=2)") >= 130  # the hard phase's second half
    assert len(chooser._kappas) >= 2
    low, high = min(chooser._kappas), max(chooser._kappas)
    assert chooser._kappas[low] < 0.1 and chooser._kappas[high] > 0.5


def test_a_guess_that_saves_less_than_it_costs_to_form_is_not_taken():
    xs = _smooth(200)
    chooser = GuessChooser(["previous", "extrapolate(order=2)"])
    # forming the extrapolation costs 100 ms, more than the ~20 ms solves it could shorten
    chosen = _fake_solves(chooser, xs, guess_cost={"extrapolate(order=2)": 0.1})
    assert chosen[-100:].count("previous") == 100 and chooser.best_ == 0


def test_a_projection_is_still_tried_in_rounds_and_judged_against_the_extrapolation():
    xs = _smooth(300)
    chooser = GuessChooser(["previous", "extrapolate(order=2)", "projection(k=2)"])
    chosen = _fake_solves(chooser, xs)
    assert chooser.rounds_ >= 3 and "projection(k=2)" in chosen
    assert chosen.count("extrapolate(order=2)") > 250
    assert chooser.arms[chooser.best_].name == "extrapolate(order=2)"


def test_a_state_saved_before_hindsight_still_loads():
    # the saved format did not change: candidates, scores, rounds, best (as saved by the round-only chooser)
    saved = {"candidates": ["previous", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)"],
             "scores": [0.0, -0.12, 0.4, 0.5], "rounds": 5, "best": 1}
    chooser = GuessChooser().load_state_dict(saved)
    assert chooser.best_ == 1 and chooser.state_dict() == saved
    _, name = chooser.form(poisson2d(4), np.zeros(16), None)
    assert name == "extrapolate(order=4,alternating=1)"


def test_auto_on_a_real_sequence_keeps_the_contract_and_records_its_choice():
    problem = Heat2D(nx=16, steps=80)
    solver = SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess="auto")
    for _ in range(80):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert np.linalg.norm(s.b - s.A @ x) <= 1e-8 * np.linalg.norm(s.b)
        problem.accept(x)
    # judged on a stride from the start: a hindsight costs ~20 µs, more than its share of these tiny solves
    assert 4 <= solver._guesser._samples <= 40
    used = {r.initial_guess for r in solver.history}
    assert used <= {"zero", "previous", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)"}


def test_a_strategy_that_never_forms_a_guess_does_not_stall_the_rounds():
    class Never(type(parse_guess("projection(k=2)"))):
        name = "never"

        def form(self, A, b, key=None):
            return None

    chooser = GuessChooser(["previous", Never(2)])
    chosen = _fake_solves(chooser, _smooth(120))
    assert chooser.rounds_ >= 3 and chosen.count("never") <= chooser.rounds_ + 1
    assert chooser.best_ == 0


def test_a_projection_whose_forming_costs_a_whole_solve_is_not_tried_again():
    xs = _smooth(400)
    chooser = GuessChooser(["previous", "extrapolate(order=2)", "projection(k=2)"])
    # forming the projection costs 50 ms, the default's whole solve ~20 ms: it cannot pay
    chosen = _fake_solves(chooser, xs, guess_cost={"projection(k=2)": 5e-2})
    assert chooser.rounds_ >= 5
    assert chosen.count("projection(k=2)") == 1  # the try that measured it


def test_duels_stop_once_the_verdict_is_clear():
    xs = _smooth(600)
    chooser = GuessChooser(["previous", "extrapolate(order=2)"], max_epoch=32)
    chosen = _fake_solves(chooser, xs)
    # many rounds, but after the first duel(s) kappa is known well enough: no more solves given up
    assert chooser.rounds_ >= 15 and 1 <= chooser._duels <= 3
    assert chosen.count("previous") <= 4 * chooser._duels + 4


def test_auto_costs_about_what_previous_costs_where_no_guess_helps():
    # unrelated right-hand sides: no history helps, extrapolating them hurts
    A = poisson2d(16)
    rng = np.random.default_rng(11)
    bs = [rng.standard_normal(A.shape[0]) for _ in range(80)]
    its = {}
    for guess in ("previous", "auto"):
        solver = SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess=guess)
        for b in bs:
            x = solver.solve(A, b)
            assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        its[guess] = sum(r.iterations for r in solver.history)
        if guess == "auto":
            used = [r.initial_guess for r in solver.history]
    assert its["auto"] <= 1.03 * its["previous"]
    assert used.count("extrapolate(order=4,alternating=1)") == 0  # judged worse, never tried
