"""Hindsight for history-only guesses: what each would have cost, without trying it.

A guess that is a fixed combination of the last solutions (``previous``, ``extrapolate``; see
:meth:`Guess.combination`) can be formed for system ``t`` from ``x_{t-1}, x_{t-2}, …`` once
``x_t`` is known, at the price of forming it (O(n) per stored solution, no product with ``A``).
So its error ``||g − x_t||`` is observed on *every* solve, for every such strategy, on the *same*
system: comparing strategies this way carries none of the noise of comparing solves of different
systems (on FEM heat an AMG hierarchy rebuilt every ~4 steps makes consecutive solves differ 2×,
and single-solve rounds never found the extrapolation that saves 16 %).

:func:`predicted_iterations` turns the errors into iterations; it is a model with one parameter
(``kappa``: a prior from ``benchmarks/guess_hindsight.py``, then measured online by the chooser's
duels), used to rank and to weigh a strategy's forming cost against what it saves.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .base import Guess, combine

#: Fraction of the uniform-rate model's change in iterations that is real: the prior, until the
#: ``auto`` chooser's duels measure it.  ``benchmarks/guess_hindsight.py`` (rtol 1e-8,
#: ``extrapolate(order=4,alternating=1)`` and ``extrapolate(order=2)`` against ``previous``, per
#: half of the run): FEM heat 0.52–0.74, Fluid2D 0.46–0.51 (there the extrapolations are 3–6×
#: *worse* and cost 3–6 % more iterations: the sign holds both ways), p-Laplace 0.33–0.57, Heat2D
#: nx=100 0.28–0.38 on its stiff second half but −0.23 … 0 on its first 500 steps (c ≤ 0.1: 6–9
#: iterations from any start, though the extrapolation's error is 8× smaller).
KAPPA = 0.5


def predicted_iterations(iterations: float, err_used: float, err: float, tol: float,
                         kappa: float = KAPPA) -> float:
    """Iterations a start with relative error ``err`` would have needed on the system that a start
    with relative error ``err_used`` solved in ``iterations`` (to about relative error ``tol``).

    At a uniform rate a solve needs iterations in proportion to the e-folds ``log(err / tol)``
    it must remove; ``kappa`` keeps that fraction of the change (the first iterations remove
    error faster than the average, so the uniform rate over-promises).  With no e-folds to
    compare (the used start was already at ``tol``) it says the same ``iterations``."""
    need_used = math.log(max(err_used, tol) / tol)
    if not need_used > 0.0 or not math.isfinite(err):
        return float(iterations)
    need = math.log(max(err, tol) / tol)
    out = float(iterations) * (1.0 + kappa * (need / need_used - 1.0))
    # a start above the tolerance needs an iteration whatever it is: where the solves take one
    # (an exact or structured solver), no start can save anything
    return max(out, min(1.0, float(iterations))) if err > tol else out


class Hindsight:
    """The last solutions (the solver's arrays, shared, never copied) and, for each strategy that
    has a :meth:`Guess.combination`, the relative error and forming seconds of the guess it would
    have made for the newest one.  Strategies without one get ``None``."""

    def __init__(self, arms: Sequence[Guess]) -> None:
        self.arms = list(arms)
        self.free = [a.combination(1) is not None for a in self.arms]
        #: solutions kept: the longest combination (asked with more solutions than any holds)
        self.depth = max([1] + [len(a.combination(1 << 20) or ()) for a, f in zip(self.arms, self.free) if f])
        self.history: list[np.ndarray] = []  # newest last, at most ``depth``

    def push(self, x: np.ndarray) -> None:
        """Store ``x`` without judging anything (a solution whose errors are not needed)."""
        if self.history and self.history[-1].shape != x.shape:
            self.history.clear()
        self.history.append(x)
        if len(self.history) > self.depth:
            del self.history[0]

    def judge(self, x: np.ndarray) -> list[tuple[float, float] | None] | None:
        """``(relative error, seconds to form)`` per strategy of the guess it would have formed
        for ``x`` from the stored history, then ``x`` stored; ``None`` when nothing can be said
        (no history of this size, or ``x = 0``)."""
        xs = self.history if self.history and self.history[-1].shape == x.shape else []
        xnorm = float(np.linalg.norm(x))
        if not xs or not (xnorm > 0.0 and math.isfinite(xnorm)):
            self.push(x)
            return None
        out: list[tuple[float, float] | None] = []
        for arm, free in zip(self.arms, self.free):
            if not free:
                out.append(None)
                continue
            t0 = time.perf_counter()
            w = arm.combination(len(xs)) or ()
            if not w:
                err = xnorm  # the zero start
            elif len(w) == 1:
                err = float(np.linalg.norm(w[0] * xs[-1] - x)) if w[0] != 1.0 else float(np.linalg.norm(xs[-1] - x))
            else:
                g = combine(w, xs)  # what the strategy's form() computes
                g -= x
                err = float(np.linalg.norm(g))
            out.append((err / xnorm, time.perf_counter() - t0))
        self.push(x)
        return out
