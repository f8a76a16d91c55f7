"""``initial_guess="auto"``: learn online which strategy makes the whole solve cheapest.

Why rounds: the systems of a sequence drift in difficulty, so comparing a strategy's mean cost
over one stretch with another's over a different stretch is unfair.  The chooser instead tries
every strategy once in a *round* of consecutive (hence similar) systems, scores each by the log of
its cost over the round's geometric mean, and exploits the best averaged score for an epoch that
doubles after each round (capped, so a change along the sequence is noticed).  Exploration thus
costs O(strategies · log T) solves.  The order within a round alternates so a steady drift in
difficulty favours no one.  Every strategy sees every certified solution, replayed when it is
next chosen (so unchosen strategies cost nothing per solve); the cost it is scored on is what a
guess changes: its own forming plus the measured solve (iterations, checks), not the configuration's
setup (an AMG hierarchy rebuilt every few systems made one round's systems very unequal).
"""

from __future__ import annotations

import math
from typing import Any, Hashable, Sequence

import numpy as np

from .base import Guess
from .spec import parse_guess

#: the strategies ``"auto"`` chooses among
#: deflation(k=8) is not among them: it never paid in benchmarks/guesses.py, and every extra
#: candidate costs a round of exploration.  extrapolate(order=4,alternating=1) replaced
#: extrapolate(order=2): fewer iterations on both Crank–Nicolson workloads (FEM heat 0.83× vs
#: 0.87× of previous's, Heat2D 0.95× vs 0.96×), about as bad where extrapolation does not pay
AUTO_CANDIDATES = ("previous", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)")


#: a strategy scored this much dearer than the default (a log cost ratio: 10 %) sits out rounds
REST_MARGIN = 0.1
#: at most this many rounds in a row
MAX_REST = 8


class GuessChooser:
    """A bandit over initial-guess strategies (explore in rounds, exploit in doubling epochs).

    ``decay`` weights the newest round's scores against the older ones; ``first_epoch`` and
    ``max_epoch`` bound the exploitation stretches between rounds; another strategy replaces the
    first candidate (the default, ``previous``) only when its score is lower by ``margin``
    (a log cost ratio: 0.03 is 3 %).
    """

    def __init__(self, candidates: Sequence[str | Guess] = AUTO_CANDIDATES, *, decay: float = 0.3,
                 first_epoch: int = 8, max_epoch: int = 500, margin: float = 0.03) -> None:
        self.arms: list[Guess] = [parse_guess(c) for c in candidates]
        # certified solutions not yet shown to each strategy: an unchosen strategy is caught up only
        # when it is next chosen, so strategies that are not used cost nothing per solve
        self._backlog: list[list[tuple[np.ndarray, Hashable | None]]] = [[] for _ in self.arms]
        self._keep = max(max(getattr(a, "window", 0), getattr(a, "k", 0), getattr(a, "order", 0) + 1, 1)
                         for a in self.arms)  # older solutions would leave every strategy's window anyway
        self.decay, self.first_epoch, self.max_epoch, self.margin = decay, first_epoch, max_epoch, margin
        self.spec = "auto"
        self.scores_ = np.zeros(len(self.arms))  # smoothed log cost ratio per strategy (lower: better)
        self.rounds_ = 0
        self.best_ = 0
        self._queue: list[int] = []
        self._round: dict[int, float] = {}
        self._left = 0  # exploitation solves left before the next round
        self._chosen: int | None = None
        # a strategy found clearly dearer than the default sits out rounds, doubling each time it is
        # found so again (a projection formed on every new matrix costs a few solves' worth per try)
        self._rest = [0] * len(self.arms)
        self._backoff = [0] * len(self.arms)

    @property
    def name(self) -> str:
        return self.spec

    def form(self, A: Any, b: np.ndarray, key: Hashable | None) -> tuple[np.ndarray | None, str]:
        if not self._queue and self._left <= 0:  # a new round: every strategy once, but those resting
            order = [i for i in range(len(self.arms)) if i == 0 or self._rest[i] == 0]
            self._rest = [max(0, r - 1) for r in self._rest]
            self._queue = order if self.rounds_ % 2 == 0 else order[::-1]
            self._round = {}
        i = self._queue[0] if self._queue else self.best_
        for x, k in self._backlog[i]:
            self.arms[i].update(None, None, x, k)
        self._backlog[i].clear()
        x0 = _safe_form(self.arms[i], A, b, key)
        # a strategy that knows nothing yet would be scored as a cold start: don't learn from it
        self._chosen = i if x0 is not None else None
        return x0, self.arms[i].name

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None) -> None:
        # no copy (as PreviousGuess): the solver hands over its own solution array, never written
        # again (the caller gets a copy), so every backlog can share it
        for arm, backlog in zip(self.arms, self._backlog):
            backlog.append((x, key))
            if len(backlog) > self._keep:
                del backlog[0]
                arm.missed()

    def learn(self, seconds: float, iterations: int | None = None, guess_seconds: float = 0.0) -> None:
        """Score the strategy that formed the last guess by that solve: its measured ``seconds``
        (guess and solve), or, given the solve's ``iterations``, by what they cost at the round's
        cheapest seconds per iteration plus its own ``guess_seconds`` (:meth:`_close_round`)."""
        i, self._chosen = self._chosen, None
        if i is None or not (seconds > 0 and math.isfinite(seconds)):
            return
        if self._queue and self._queue[0] == i:
            self._queue.pop(0)
            solve = seconds - guess_seconds
            self._round[i] = (seconds,) if iterations is None or not solve > 0 else (
                seconds, iterations, guess_seconds, solve)
            if not self._queue:
                self._close_round()
        else:
            self._left -= 1

    def reset(self) -> None:
        for arm, backlog in zip(self.arms, self._backlog):
            arm.reset()
            backlog.clear()

    def state_dict(self) -> dict:
        """What was learned (the strategies' scores), not the solutions: a new run of the
        simulation starts exploiting the strategy that won, and its vectors come from its own solves."""
        return {"candidates": [a.name for a in self.arms], "scores": [float(v) for v in self.scores_],
                "rounds": self.rounds_, "best": self.best_}

    def load_state_dict(self, state: Any) -> "GuessChooser":
        """Restore :meth:`state_dict` (every value is checked before anything changes).

        A state saved for other candidates (another release changed ``"auto"``'s list) keeps
        the scores of the strategies both lists share; the others start unscored and the next
        round measures them all, so what the user saved is never refused for that alone."""
        if not isinstance(state, dict) or set(state) != {"candidates", "scores", "rounds", "best"}:
            raise ValueError("the initial-guess state needs exactly candidates, scores, rounds and best")
        names = [a.name for a in self.arms]
        saved, scores, rounds, best = state["candidates"], state["scores"], state["rounds"], state["best"]
        if not (isinstance(saved, list) and all(isinstance(c, str) for c in saved) and len(set(saved)) == len(saved)):
            raise ValueError("the initial-guess candidates must be distinct strategy names")
        if (not isinstance(scores, list) or len(scores) != len(saved)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           and abs(v) < 1e6 for v in scores)):
            raise ValueError("the initial-guess scores must be one finite number per candidate")
        if not (isinstance(rounds, int) and not isinstance(rounds, bool) and 0 <= rounds <= 10**9):
            raise ValueError("the initial-guess rounds must be a non-negative integer")
        if not (isinstance(best, int) and not isinstance(best, bool) and 0 <= best < len(saved)):
            raise ValueError("the initial-guess best must index a candidate")
        if saved != names:
            known = dict(zip(saved, scores))
            scores = [float(known.get(name, 0.0)) for name in names]
            best = names.index(saved[best]) if saved[best] in names else 0
            rounds = min(rounds, 1)  # a round soon: the new strategies are unmeasured
        self.scores_ = np.array(scores, dtype=np.float64)
        self.rounds_, self.best_ = rounds, best
        self._queue, self._round = [], {}
        # exploit what was learned for an epoch before the next round, as after a round here
        self._left = min(self.max_epoch, self.first_epoch * 2 ** max(0, rounds - 1)) if rounds else 0
        return self

    @property
    def memory_vectors(self) -> int:
        shared = len({id(x) for backlog in self._backlog for x, _ in backlog})
        return shared + sum(arm.memory_vectors for arm in self.arms)

    def _close_round(self) -> None:
        costs = self._round_costs()
        # relative to the default, which is in every round (a resting strategy is not)
        ref = costs[0] if 0 in costs else sum(costs.values()) / len(costs)
        weight = max(self.decay, 1.0 / (self.rounds_ + 1))  # a plain mean over the first rounds
        for i, v in costs.items():
            self.scores_[i] += weight * (v - ref - self.scores_[i])
            if i and self.rounds_ >= 1 and self.scores_[i] > self.scores_[0] + REST_MARGIN:
                self._backoff[i] = min(MAX_REST, 2 * self._backoff[i] or 1)
                self._rest[i] = self._backoff[i]
            elif i:
                self._backoff[i] = 0
        self.rounds_ += 1
        # the first candidate (the default) is kept unless another is clearly cheaper: one noisy
        # round must not switch to a strategy that only ties
        best = int(np.argmin(self.scores_))
        self.best_ = best if self.scores_[best] < self.scores_[0] - self.margin else 0
        self._left = min(self.max_epoch, self.first_epoch * 2 ** (self.rounds_ - 1))


    def _round_costs(self) -> dict[int, float]:
        """Log cost of each strategy's solve in the round.

        A guess changes a solve's iterations (exactly counted) and costs its own forming; the
        seconds per iteration it does not change.  So when every solve of the round reports its
        iterations, each is charged its guess seconds plus (iterations + 1) at the round's least
        seconds per (iteration + 1) — the +1 standing for the solve's fixed work — and a burst of
        load during one try cannot crown or sink a strategy (measured: a Fluid2D run that kept
        an extrapolation costing 1.13x previous on such noise).  Else the measured seconds."""
        entries = self._round
        if not all(len(e) == 4 for e in entries.values()):
            return {i: math.log(e[0]) for i, e in entries.items()}
        per = min(solve / (its + 1) for _, its, _, solve in entries.values())
        return {i: math.log(guess + (its + 1) * per) for i, (_, its, guess, _) in entries.items()}


class FixedGuess:
    """One strategy for every solve, behind the same interface as :class:`GuessChooser`."""

    def __init__(self, guess: Guess) -> None:
        self.guess = guess
        self.spec = guess.name

    @property
    def name(self) -> str:
        return self.spec

    def form(self, A: Any, b: np.ndarray, key: Hashable | None) -> tuple[np.ndarray | None, str]:
        return _safe_form(self.guess, A, b, key), self.guess.name

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None) -> None:
        self.guess.update(A, b, x, key)

    def learn(self, seconds: float, iterations: int | None = None, guess_seconds: float = 0.0) -> None:
        pass

    def reset(self) -> None:
        self.guess.reset()

    @property
    def memory_vectors(self) -> int:
        return self.guess.memory_vectors


def _safe_form(guess: Guess, A: Any, b: np.ndarray, key: Hashable | None) -> np.ndarray | None:
    """``guess.form``, or ``None`` (a cold start) when the strategy fails numerically: a guess is
    an optimisation, so its failure must cost iterations at most, never the solve."""
    if not guess.arithmetic:  # a stored vector handed back: nothing to guard
        x0 = guess.form(A, b, key)
    else:
        try:
            with np.errstate(all="ignore"):
                x0 = guess.form(A, b, key)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            return None
    if x0 is None:
        return None
    if type(x0) is not np.ndarray or x0.dtype != np.float64 or x0.ndim != 1:
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
    return x0 if x0.shape == b.shape else None  # finiteness: the solver checks every x0 it starts from


def make_guesser(initial_guess: "str | Guess | Sequence[str | Guess]") -> GuessChooser | FixedGuess:
    """What ``SequenceSolver(initial_guess=...)`` accepts: a spec, ``"auto"``, a :class:`Guess`,
    or a list of specs to choose among online."""
    if isinstance(initial_guess, str) and initial_guess.strip() == "auto":
        return GuessChooser()
    if isinstance(initial_guess, (list, tuple)):
        return GuessChooser(initial_guess)
    return FixedGuess(parse_guess(initial_guess))
