"""``initial_guess="auto"``: learn online which strategy makes the whole solve cheapest.

Two kinds of evidence, because there are two kinds of strategy:

- A *history-only* strategy (``previous``, ``extrapolate``: a fixed combination of the last
  solutions) is judged in hindsight after every solve (:mod:`.hindsight`): the error its guess
  would have had is observed on the very system just solved, turned into iterations by a model
  and into seconds at the solve's measured seconds per iteration, plus its own forming cost.  No
  try is needed, and the comparison is paired (the same system for all), which single solves of
  consecutive systems are not: on FEM heat an AMG hierarchy rebuilt every ~4 steps made rounds of
  single tries miss an extrapolation that saves 16 %.  The model's one parameter (``kappa``: how
  much of the uniform-rate change in iterations is real) is measured by *duels*: the default and
  the most promising such strategy on 8 interleaved systems, while the verdict depends on it —
  per difficulty (octaves of the iterations the default's start needs), since one sequence can
  hold phases where a better start buys nothing and phases where it saves a quarter (Heat2D).
- A strategy that needs products with ``A`` (``projection``, ``pod``) has to be tried.  The
  chooser tries it, with the default, once in a *round* of consecutive (hence similar) systems,
  scores each by the log of its cost over the default's, and exploits the best averaged score for
  an epoch that doubles after each round (capped, so a change along the sequence is noticed).
  Exploration thus costs O(strategies · log T) solves.  A try is scored against the default's
  hindsight cost on the same system (paired again), or, where the errors say nothing, against the
  default's own try in the round (whose order alternates, so a steady drift favours no one).  The
  cost is what a guess changes: its own forming plus the measured solve, not the setup.

All scores are log cost ratios to the default (the first candidate), which a strategy must beat
by ``margin`` to replace it.  Every strategy sees every certified solution, replayed when it is
next chosen (so unchosen strategies cost nothing per solve beyond the hindsight).

Where no start pays, the chooser must cost (almost) nothing, so that it can be the default:

- *dormant*: between the things due (a hindsight sample, a round), a solve with the exploited
  history-only strategy costs a few attribute updates and no :meth:`GuessChooser.learn`; on
  ``previous`` it hands back the stored vector, and a fixed compiled policy keeps its lean path.
- *evidence before a try*: a strategy whose guess lies in the span of the last ``k`` solutions is
  tried only once they are stored, and only if the span's best fit of the newest solution could
  save more than the margin (:mod:`.bound`); after a one-iteration solve nothing is tried.
- *its own share*: the hindsight's stride keeps the hindsight and the chooser's bookkeeping under
  ``HINDSIGHT_SHARE`` of the solves' seconds from the first sample on.
"""

from __future__ import annotations

import math
import time
from typing import Any, Hashable, Sequence

import numpy as np

from .base import Guess
from .bound import iterations_saved, span_errors
from .hindsight import KAPPA, Hindsight, predicted_iterations
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
#: a paired (hindsight) score forgets with this many solves as time constant: a sample after a
#: gap of g solves weighs 1 − exp(−g / HINDSIGHT_MEMORY), however often samples come
HINDSIGHT_MEMORY = 40
#: weight of the newest measured forming seconds of a strategy
GUESS_COST_DECAY = 0.1
#: a duel: the history-only strategy that could pay most and the default, on consecutive systems
#: in this order (1 = the challenger): balanced against a linear drift and a period of 2 or 4
#: (amg-cg(adaptive)'s rebuild cycle on FEM heat), it measures the real change in iterations
DUEL = (1, 0, 0, 1, 0, 1, 1, 0)
#: the range a duel's measured kappa is clipped to (up to 0.74 measured; a duel on few
#: iterations can say anything)
KAPPA_RANGE = (0.0, 2.0)
#: kappa is measured per difficulty: solves whose default start needs ``its`` iterations share a
#: bin ``floor(KAPPA_BINS_PER_OCTAVE · log2(its + 1))``.  One kappa for a whole sequence swung with
#: its phases: on Heat2D nx=200 (5000 steps) duels measured 0 where solves took 10-12 iterations
#: (an 8x smaller error bought none) and 0.6-1.0 where they took 17-31 (an extrapolation saved
#: a quarter of them), each duel's kappa was applied to the next phase, and `auto` kept
#: `previous` (1.00x) where the extrapolation alone cost 0.90x
KAPPA_BINS_PER_OCTAVE = 1
#: hindsight on every solve (cost permitting) for the first this many samples, then, while it
#: changes nothing, on every 2nd, 4th … ``HINDSIGHT_MAX_STRIDE``-th, and never more often than keeps its own cost
#: and the chooser's bookkeeping under ``HINDSIGHT_SHARE`` of the solves' (from the first sample
#: on; at most every ``HINDSIGHT_MAX_SHARE_STRIDE``-th, a rare re-check): forming every
#: history-only guess costs O(n) per stored solution, and a sample after a dormant stretch finds
#: the solutions out of cache: with the bookkeeping ~180 µs, 15–20 % of a Heat2D nx=100 solve
#: (~1 ms), 0.4 % of a FEM heat one (50 ms)
HINDSIGHT_WARM, HINDSIGHT_SHARE, HINDSIGHT_MAX_STRIDE, HINDSIGHT_MAX_SHARE_STRIDE = 16, 0.005, 16, 256
#: the most memory (bytes) the strategies' stored vectors may plan to take: above it the ones that
#: need products with ``A`` are left out at the first solve (``auto``'s four candidates plan ~40
#: vectors: 1 GiB is reached at ~3.4 million unknowns, where a user did not ask for any of it)
MEMORY_LIMIT = 1 << 30


class GuessChooser:
    """A bandit over initial-guess strategies: history-only ones judged in hindsight (and the
    hindsight's ``kappa_`` measured in duels), the others tried in rounds between doubling
    exploitation epochs.

    ``decay`` weights the newest round's scores against the older ones; ``first_epoch`` and
    ``max_epoch`` bound the exploitation stretches between rounds; another strategy replaces the
    first candidate (the default, ``previous``) only when its score is lower by ``margin``
    (a log cost ratio: 0.03 is 3 %).  ``tolerance`` is the relative accuracy the solves reach
    (the solver's ``rtol``), the scale of the hindsight's iteration model.
    """

    def __init__(self, candidates: Sequence[str | Guess] = AUTO_CANDIDATES, *, decay: float = 0.3,
                 first_epoch: int = 8, max_epoch: int = 500, margin: float = 0.03,
                 tolerance: float = 1e-8, memory_limit: float = MEMORY_LIMIT) -> None:
        self.arms: list[Guess] = [parse_guess(c) for c in candidates]
        self.memory_limit = memory_limit
        self._sized: int | None = None  # the size the memory was last checked for (_fit_memory)
        self._out: set[int] = set()  # the strategies left out for memory (_fit_memory)
        # the last certified solutions, shared: an unchosen strategy is caught up only when it is
        # next chosen, so strategies that are not used cost nothing per solve (and the chooser
        # O(1), not O(strategies))
        self._history: list[tuple[np.ndarray, Hashable | None]] = []
        self._received = 0  # solutions received so far
        self._shown = [0] * len(self.arms)  # how many of them each strategy has been shown
        self._keep = _history_needed(self.arms)
        self.decay, self.first_epoch, self.max_epoch, self.margin = decay, first_epoch, max_epoch, margin
        self.tolerance = tolerance if 0.0 < tolerance < 1.0 else 1e-8
        self.spec = "auto"
        self.scores_ = np.zeros(len(self.arms))  # smoothed log cost ratio per strategy (lower: better)
        self.rounds_ = 0
        self.best_ = 0
        # judged in hindsight: the history-only strategies, when the default (the scores'
        # reference) is one too; the default and the rest are tried in rounds, and a tried
        # strategy is scored against the default's hindsight cost on the same system
        self._hindsight = Hindsight(self.arms)
        free = self._hindsight.free
        self._paired = free[0]
        self._judged = [i for i in range(1, len(self.arms)) if free[i] and free[0]]
        self._tried = [i for i in range(len(self.arms)) if i not in self._judged]
        self._samples = 0  # hindsight samples of the history-only strategies so far
        self._count = [0] * len(self.arms)  # paired samples of each tried strategy
        self._solves = 0  # solves learned from
        # the hindsight model's kappa, measured by duels; a judged strategy's score is
        # log(1 + u + kappa·v): u its extra forming seconds, v its change in solve seconds at
        # kappa = 1, both over the default's cost (averaged, so a new kappa re-weighs them all)
        self.kappa_ = KAPPA  # the kappa in use: the one measured at the solves' current difficulty
        self._kappas: dict[int, float] = {}  # difficulty bin (_difficulty) → kappa measured there
        self._level: int | None = None  # the difficulty bin of the recent solves (_at_difficulty)
        self._octaves: float | None = None  # their log2(iterations + 1), smoothed
        self._duels = 0
        self._u = np.zeros(len(self.arms))
        self._v = np.zeros(len(self.arms))
        self._duel: list[tuple[int, int, float | None]] = []  # (strategy, iterations, v in iterations)
        self._challenger: int | None = None
        self._base: float | None = None  # the default's cost per solve lately (hindsight), seconds
        self._change = None  # the last judged solve's change in iterations at kappa = 1, per strategy
        self._last = [0] * len(self.arms)  # the solve of each strategy's last paired sample
        self._wait = 0  # solves until the next hindsight (after the first HINDSIGHT_WARM)
        self._stride = 1
        self._verdict: tuple[list, float] | None = None  # the last solve's hindsight, for learn()
        self._spent = 0.0  # seconds the last update spent on hindsight (not the guess's cost)
        self._x0: np.ndarray | None = None  # the last guess of a strategy that is not history-only
        self._guess_s: list[float | None] = [None] * len(self.arms)  # measured forming seconds
        # the hindsight's forming of each history-only guess (averaged): a prior for the above,
        # so that a strategy's first few real uses (a duel's four) do not alone fix its cost
        self._formed: list[float | None] = [None] * len(self.arms)
        self._queue: list[int] = []
        self._round: dict[int, float] = {}
        self._left = 0  # exploitation solves left before the next round
        self._chosen: int | None = None
        # a strategy found clearly dearer than the default sits out rounds, doubling each time it is
        # found so again (a projection formed on every new matrix costs a few solves' worth per try)
        self._rest = [0] * len(self.arms)
        self._backoff = [0] * len(self.arms)
        # dormant: solves left before anything is due (a hindsight sample, a round), while one
        # strategy is exploited; see _doze
        self._sleep = 0
        self._deferred = False  # see defer()
        self._idle = 0  # the last dormant stretch after one-iteration solves (_doze)
        #: whether the last update() was dormant: then learn() has nothing to learn from that solve
        self.asleep = False
        self._recent: tuple[int, float] | None = None  # the last solve's (iterations, solve seconds)
        self._unready = 0  # solves until a strategy skipped for want of solutions has them all
        self._own = 0.0  # the chooser's own seconds (learn, bounds) since the last hindsight sample

    @property
    def name(self) -> str:
        return self.spec

    @property
    def left_out_(self) -> list[str]:
        """The strategies left out for memory (:meth:`_fit_memory`)."""
        return [self.arms[i].name for i in sorted(self._out)]

    @property
    def stored(self) -> bool:
        """Whether the next solve's guess is a stored vector handed back and its bookkeeping O(1)
        with no arithmetic (dormant, exploiting ``previous``): the solver's lean fixed path may
        take it, as it takes a fixed ``previous``."""
        return self._sleep > 0 and not self.arms[self.best_].arithmetic

    @property
    def dormant(self) -> bool:
        """Whether the next solve's guess is the exploited strategy's, with O(1) bookkeeping and
        nothing to learn (:meth:`learn` is a no-op after it): a lean path that limits BLAS threads
        around it (a stretch's, :meth:`seqsolve.SequenceSolver._stretch_step`) may take it."""
        return self._sleep > 0

    def defer(self) -> None:
        """The next solve tries a configuration the solver's policy is exploring, or is the first
        after the policy switched: it gets the exploited strategy, starts or continues no round
        and scores nothing (update() still stores its solution).  Two learners trying at once
        confound each other: on Heat2D a projection's first try (2.9 ms to form on a new matrix)
        fell on the first solve of fastdiag-cg, whose cost the policy then measured with it, and
        which needs one iteration from any start, so the try measured nothing about the start
        either."""
        self._deferred = True

    def discard(self) -> None:
        """The start :meth:`form` just gave was not used (the solver started from the previous
        solution, whose residual it found smaller): nothing is scored from this solve, as after a
        deferred one; update() still stores its solution."""
        self._chosen = self._x0 = self._verdict = None

    def form(self, A: Any, b: np.ndarray, key: Hashable | None) -> tuple[np.ndarray | None, str]:
        if b.shape[0] != self._sized:
            self._fit_memory(b.shape[0])
        deferred, self._deferred = self._deferred, False
        if self._sleep > 0 or deferred:  # dormant or deferred: the exploited strategy
            if deferred:
                self._chosen = self._x0 = self._verdict = None
                self._catch_up(self.best_)
            arm = self.arms[self.best_]
            return _safe_form(arm, A, b, key), arm.name
        if (len(self._tried) > 1 or self._judged) and not self._queue and self._left <= 0:
            # a new round: a duel if a history-only strategy could pay, then every strategy that
            # must be tried once, but those resting
            order = [i for i in self._tried if i and self._rest[i] == 0 and not self._hopeless(i)]
            order = self._promising(order)
            self._rest = [max(0, r - 1) for r in self._rest]
            if order or 0 not in self._tried:  # the default is the tried ones' reference
                order = [i for i in self._tried if i == 0 or i in order]
            self._queue = order if self.rounds_ % 2 == 0 else order[::-1]
            self._challenger = self._contender()
            if self._challenger is not None:
                duel = [self._challenger if d else 0 for d in DUEL]
                self._queue = (duel if self.rounds_ % 2 == 0 else duel[::-1]) + [i for i in self._queue if i]
            self._round, self._duel = {}, []
            if not self._queue:  # nothing to try this time
                self._close_round()
        if self._queue and self._recent is not None and self._recent[0] <= 1:
            # the last solve took one iteration: a try queued before it can save nothing (_promising)
            self._queue = [i for i in self._queue if i == 0 or i not in self._tried]
            if not self._queue:
                self._close_round()
        i = self._queue[0] if self._queue else self.best_
        self._catch_up(i)
        x0 = _safe_form(self.arms[i], A, b, key)
        # a strategy that knows nothing yet would be scored as a cold start: don't learn from it,
        # but let the round go on (one that never forms a guess must not hold it forever)
        self._chosen = i if x0 is not None else None
        if x0 is None and self._queue and self._queue[0] == i and i != 0:
            self._queue.pop(0)
            if not self._queue:
                self._close_round()
        self._x0 = x0 if x0 is not None and not self._hindsight.free[i] else None
        self._verdict = None
        return x0, self.arms[i].name

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None) -> None:
        # no copy (as PreviousGuess): the solver hands over its own solution array, never written
        # again (the caller gets a copy), so every strategy can share it
        self._history.append((x, key))
        if len(self._history) > self._keep:
            del self._history[0]
        self._received += 1
        if self._sleep > 0:  # dormant: store, show the exploited strategy at once, count down
            self._hindsight.push(x)
            best = self.best_
            self.arms[best].update(None, None, x, key)
            self._shown[best] = self._received
            self._sleep -= 1
            self._left -= 1
            self._wait -= 1
            self._solves += 1
            self.asleep = True
            return
        self.asleep = False
        t0 = time.perf_counter()
        i = self._chosen
        self._wait -= 1
        # judged: every solve at first, a tried strategy's, and one in every stride
        if (self._paired and i is not None
                and (self._wait <= 0 or not self._hindsight.free[i] or self._queue)):
            self._wait = self._stride
            seen = self._hindsight.judge(x)
            if seen is not None and seen[i] is not None:
                self._verdict = (seen, seen[i][0])
            elif seen is not None and self._x0 is not None and self._x0.shape == x.shape:
                xnorm = float(np.linalg.norm(x))  # > 0, or judge() would have said nothing
                self._verdict = (seen, float(np.linalg.norm(self._x0 - x)) / xnorm)
        else:
            self._hindsight.push(x)
        self._x0 = None
        self._spent = time.perf_counter() - t0

    def learn(self, seconds: float, iterations: int | None = None, guess_seconds: float = 0.0) -> None:
        """Score by the last solve: its measured ``seconds`` (guess and solve), of which
        ``guess_seconds`` formed the guess (and updated the strategies), and its ``iterations``.

        If this solve was judged in hindsight, every history-only strategy is scored, and so is
        the strategy that formed the guess if it is a tried one (:meth:`_judge`); else a try in a
        round is scored when the round closes (:meth:`_round_costs`).  Nothing after a dormant
        solve (:attr:`asleep`): the solver need not call it then."""
        if self.asleep:
            return
        if iterations is not None:
            self._recent = (iterations, seconds - guess_seconds)
        t0 = time.perf_counter()
        self._learn(seconds, iterations, guess_seconds)
        self._doze()
        self._own += time.perf_counter() - t0

    def _doze(self) -> None:
        """Go dormant until the next thing due (a hindsight sample, a round), unless a round is
        under way or the exploited strategy is a tried one (judged on every use).

        Why: a dormant solve costs a few attribute updates in update() (~2 µs) and no learn(),
        where the full bookkeeping costs ~20 µs (2–3 % of a 1 ms solve; ~200 µs with the solutions
        out of cache), and, exploiting ``previous``, it lets the solver keep its lean path.  The
        wake-ups come on the doubling schedules the strides and epochs already follow."""
        best = self.best_
        if self._queue or not self._hindsight.free[best]:  # (a tried strategy is judged on every use)
            return
        self._catch_up(best)
        due = min(self._left, self._wait - 1) if self._paired else self._left
        if self._recent is not None and self._recent[0] <= 1:
            # a solve of one iteration leaves no start anything to save (every start above the
            # tolerance needs one): nothing is due but a look, after 8, 16 … max_epoch solves, at
            # whether the solves still take one (fastdiag-cg's exact steps on Heat2D: a hindsight
            # sample there cost 0.1-0.2 ms of a 0.6 ms solve, and found nothing each time)
            self._idle = min(self.max_epoch, 2 * self._idle or self.first_epoch)
            due = max(due, self._idle)
        else:
            self._idle = 0
        self._sleep = max(0, due)

    def _fit_memory(self, n: int) -> None:
        """Leave out, for good, the strategies that need products with ``A`` (those tried in
        rounds) if every strategy's planned vectors of length ``n``, and the shared history,
        would exceed ``memory_limit``: ``previous`` and the history-only ones stay."""
        self._sized = n
        planned = self._keep + sum(arm.planned_vectors for arm in self.arms)
        if planned * n * 8 <= self.memory_limit:
            return
        out = [i for i in self._tried if i != 0]
        if not out:
            return
        self._tried = [i for i in self._tried if i == 0]
        self._queue = [i for i in self._queue if i not in out]
        if self.best_ in out:
            self.best_ = 0
        self._out.update(out)
        self._keep = _history_needed([a for i, a in enumerate(self.arms) if i not in out])
        del self._history[:-self._keep]

    def _catch_up(self, i: int) -> None:
        """Show strategy ``i`` the solutions it has not seen (replayed from the shared history)."""
        gap = self._received - self._shown[i]
        if gap:
            if gap > len(self._history):  # the oldest it has not seen were dropped
                self.arms[i].missed()
            for x, k in self._history[len(self._history) - min(gap, len(self._history)):]:
                self.arms[i].update(None, None, x, k)
            self._shown[i] = self._received

    def _learn(self, seconds: float, iterations: int | None, guess_seconds: float) -> None:
        i, self._chosen = self._chosen, None
        seen, self._verdict = self._verdict, None
        if i is None or not (seconds > 0 and math.isfinite(seconds)):
            return
        spent = min(self._spent, guess_seconds)  # the hindsight's own work is no guess's cost
        seconds, guess_seconds = seconds - spent, guess_seconds - spent
        solve = seconds - guess_seconds
        g = self._guess_s[i]
        if g is None and self._formed[i] is not None:  # judged before: what the hindsight measured
            g = self._forming(i, self._formed[i])
        self._guess_s[i] = guess_seconds if g is None else g + GUESS_COST_DECAY * (guess_seconds - g)
        self._solves += 1
        if iterations is not None and (i == 0 or seen is not None and seen[0][0] is not None):
            # the difficulty is what the default's start would have needed: a strategy that saves
            # iterations must not look like an easier phase of the sequence
            self._at_difficulty(iterations if i == 0 else predicted_iterations(
                iterations, seen[1], seen[0][0][0], self.tolerance, kappa=self.kappa_))
        best = self.best_
        paired = (seen is not None and iterations is not None and solve > 0
                  and self._judge(i, seen, iterations, solve, guess_seconds))
        if seen is not None and solve > 0:  # judge less often while nothing changes, and never dearly:
            # the hindsight and the chooser's own bookkeeping (the last learn) within their share
            floor = math.ceil((spent + self._own) / (HINDSIGHT_SHARE * solve))
            self._own = 0.0
            grow = 1 if self.best_ != best or self._samples < HINDSIGHT_WARM else 2 * self._stride
            self._stride = max(min(HINDSIGHT_MAX_STRIDE, grow), min(HINDSIGHT_MAX_SHARE_STRIDE, floor))
        change, self._change = self._change, None
        if self._queue and self._queue[0] == i:
            self._queue.pop(0)
            if self._challenger is not None and i in (0, self._challenger) and iterations is not None:
                self._duel.append((i, iterations, None if change is None else change[self._challenger]))
            if i == 0 or not (paired or i in self._judged):  # the default: the round's reference
                self._round[i] = (seconds,) if iterations is None or not solve > 0 else (
                    seconds, iterations, guess_seconds, solve)
            if not self._queue:
                self._close_round()
        else:
            self._left -= 1

    def reset(self) -> None:
        for arm in self.arms:
            arm.reset()
        self._history.clear()
        self._shown = [self._received] * len(self.arms)
        self._hindsight.history.clear()
        self._sleep = 0

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
        # the loaded scores count as settled, not as a first sample to be replaced
        self._samples = HINDSIGHT_WARM if rounds else 0
        self._count = [self._samples] * len(self.arms)
        for a in self._judged:  # a judged score as a change in solve seconds at the model's kappa
            self._u[a], self._v[a] = 0.0, math.expm1(self.scores_[a]) / self.kappa_
        self._queue, self._round, self._sleep = [], {}, 0
        # exploit what was learned for an epoch before the next round, as after a round here
        self._left = min(self.max_epoch, self.first_epoch * 2 ** max(0, rounds - 1)) if rounds else 0
        return self

    @property
    def memory_vectors(self) -> int:
        shared = len({id(x) for x, _ in self._history}
                     | {id(x) for x in self._hindsight.history})
        return shared + sum(arm.memory_vectors for arm in self.arms)

    def _judge(self, i: int, seen: tuple[list, float], iterations: int, solve: float,
               guess_seconds: float) -> bool:
        """Score by the solve just made with strategy ``i``, in hindsight: every history-only
        strategy by the iterations its guess would have needed (:func:`predicted_iterations`,
        from its error and the used guess's) at this solve's seconds per iteration, plus its
        forming seconds, over the default's so predicted on the same system; and ``i``, if it
        is not history-only, by its measured seconds over that.  ``False`` when the errors say
        nothing (the used start was already at the tolerance): then a round scores the try."""
        errors, err_used = seen
        if not err_used > self.tolerance or any(errors[a] is None for a in [0] + self._judged):
            return False
        per = solve / (iterations + 1)  # + 1: the solve's fixed work, as in a round
        # the model is linear in kappa: iterations = used·(1 − kappa) + kappa·(uniform-rate ones)
        uniform = {a: predicted_iterations(iterations, err_used, errors[a][0], self.tolerance, kappa=1.0)
                   for a in [0] + self._judged}
        base = self._forming(0, errors[0][1]) + (
            (1.0 - self.kappa_) * iterations + self.kappa_ * uniform[0] + 1.0) * per  # the default's cost
        self._change = {a: uniform[a] - uniform[0] for a in self._judged}
        self._base = base if self._base is None else self._base + GUESS_COST_DECAY * (base - self._base)
        if self._judged:
            self._samples += 1
            weight = self._weight(self._judged[0], self._samples)  # they are all judged together
            for a in self._judged:
                f = self._formed[a]
                self._formed[a] = errors[a][1] if f is None else f + GUESS_COST_DECAY * (errors[a][1] - f)
            forming0 = self._forming(0, errors[0][1])
            for a in self._judged:
                self._u[a] += weight * ((self._forming(a, errors[a][1]) - forming0) / base - self._u[a])
                self._v[a] += weight * (self._change[a] * per / base - self._v[a])
            self._rescore()
        if i and not self._hindsight.free[i]:
            self._count[i] += 1
            weight = self._weight(i, self._count[i])
            self.scores_[i] += weight * (math.log((guess_seconds + solve) / base) - self.scores_[i])
            self._rest_if_dear(i)
        self._pick()
        return True

    def _rescore(self) -> None:
        for a in self._judged:
            self.scores_[a] = math.log(max(0.05, 1.0 + self._u[a] + self.kappa_ * self._v[a]))
        self._pick()

    def _contender(self) -> int | None:
        """The history-only strategy a duel should measure: the one the hindsight says could pay
        most at the uniform rate (kappa = 1, more than measured on any workload), if that is a
        gain by ``margin``; none while unjudged, and none once duels have measured
        kappa well enough for the verdict (on FEM heat each duel costs 4 solves without the
        extrapolation that saves 16 %)."""
        if not self._judged or self._samples == 0:
            return None
        a = min(self._judged, key=lambda j: self._u[j] + self._v[j])
        if not self._u[a] + self._v[a] < -self.margin:
            return None
        if self._kappas:
            # measured (at this difficulty, or at the nearest one): a duel only where a kappa within
            # 2x would change the verdict
            wins = [1.0 + self._u[a] + k * self._v[a] < math.exp(-self.margin)
                    for k in (0.5 * self.kappa_, max(2.0 * self.kappa_, KAPPA))]
            if wins[0] == wins[1]:
                return None
        return a

    def _at_difficulty(self, iterations: float) -> None:
        """A solve took ``iterations``: use the kappa measured at the recent solves' difficulty
        (smoothed over ~4 solves learned from: FEM heat's AMG rebuild cycle alternates 13 and 29),
        else the one measured nearest to it (else the prior), and, where none was measured there
        and a kappa within 2x of that one would change the verdict, hold a duel at the next solve
        rather than after the epoch (up to ``max_epoch`` solves): a phase of the sequence is that
        long (Heat2D: the easy phase's kappa 0 says nothing of the hard one's ~0.9)."""
        octaves = math.log2(max(0.0, iterations) + 1.0)
        self._octaves = octaves if self._octaves is None else self._octaves + 0.25 * (octaves - self._octaves)
        scaled = KAPPA_BINS_PER_OCTAVE * self._octaves
        if self._level is not None and self._level - 0.25 <= scaled < self._level + 1.25:
            return  # (a margin: solves near a bin's edge must not take turns between two kappas)
        self._level = level = int(math.floor(scaled))
        if self._kappas:
            near = min(self._kappas, key=lambda k: (abs(k - level), k))
            kappa = self._kappas[near]
        else:
            kappa = KAPPA
        if kappa != self.kappa_:
            self.kappa_ = kappa
            self._rescore()
        if self._kappas and level not in self._kappas and not self._queue \
                and self._challenger is None and self._contender() is not None:
            self._left = min(self._left, 0)

    def _settle_duel(self) -> None:
        """kappa from the duel: the change in iterations it measured (challenger's solves minus
        the default's, on interleaved systems) over the change the hindsight predicted at
        kappa = 1 on the same solves.  The first replaces the prior (a measurement beats the
        calibration on other workloads); later ones are averaged in, the newest weighing half."""
        a, duel = self._challenger, self._duel
        its = {k: [n for j, n, _ in duel if j == k] for k in (0, a)}
        predicted = [c for _, _, c in duel if c is not None]
        if len(its[0]) < 2 or len(its[a]) < 2 or len(predicted) < len(duel) // 2:
            return
        real = float(np.mean(its[a]) - np.mean(its[0]))
        expected = float(np.mean(predicted))
        if not abs(expected) >= 0.02 * (np.mean(its[0]) + 1.0):  # it predicted no change to measure
            return
        sample = min(KAPPA_RANGE[1], max(KAPPA_RANGE[0], real / expected))
        self._duels += 1
        level = _difficulty(float(np.mean(its[0])))
        before = self._kappas.get(level)
        self._kappas[level] = sample if before is None else before + 0.5 * (sample - before)
        self._octaves, self._level = None, None  # the duel's solves set the difficulty now
        self._at_difficulty(float(np.mean(its[0])))

    def _weight(self, a: int, samples: int) -> float:
        """Weight of a new paired sample for strategy ``a`` (its ``samples``-th): a plain mean
        over the first, then forgetting in solves (``HINDSIGHT_MEMORY``), not in samples."""
        gap, self._last[a] = self._solves - self._last[a], self._solves
        return max(1.0 / samples, 1.0 - math.exp(-gap / HINDSIGHT_MEMORY))

    def _forming(self, a: int, formed: float) -> float:
        """Seconds strategy ``a`` costs to form (and update) per solve: measured when it was used,
        else the default's measured cost plus the hindsight's forming of its guess."""
        measured = self._guess_s[a]
        if measured is not None:
            return measured
        return (self._guess_s[0] or 0.0) + formed

    def _promising(self, order: list[int]) -> list[int]:
        """Those of the tried strategies ``order`` that could pay by the margin on the evidence of
        the history alone (:mod:`.bound`): one whose guess lies in the span of the last ``k``
        solutions is tried only once ``k`` (and one to test with) are stored, and only if the best
        fit of the newest solution in that span, at the uniform rate and with the one-iteration
        floor, could save more solve seconds than its known forming costs, by ``margin``.  The
        others sit out this round only: each round checks again (rounds come on a doubling
        schedule, so the checks cost O(log T) Gram matrices)."""
        self._unready = 0
        if self._recent is not None and self._recent[0] <= 1:
            return []  # a solve of one iteration: no start short of the tolerance saves anything
        spans = {i: self.arms[i].span for i in order if self.arms[i].span}
        if not spans:
            return order
        n = self._history[-1][0].shape if self._history else None
        xs = []
        for x, _ in reversed(self._history):  # the newest run of one size
            if x.shape != n:
                break
            xs.append(x)
        xs.reverse()
        unready = [k + 1 - len(xs) for k in spans.values() if k + 1 > len(xs)]
        self._unready = min(unready, default=0)
        order = [i for i in order if i not in spans or spans[i] + 1 <= len(xs)]
        if self._recent is None or not any(i in spans for i in order):
            return order
        its, solve = self._recent
        # (its cost, once a round, is not charged to the hindsight's share: rounds are O(log T))
        err_prev, fits = span_errors(xs, sorted({spans[i] for i in order if i in spans}))
        if not fits or not solve > 0:
            return order
        keep = []
        for i in order:
            if i in spans and spans[i] in fits:
                saved = iterations_saved(its, err_prev, fits[spans[i]], self.tolerance) * solve / (its + 1)
                if saved - (self._known_forming(i) or 0.0) <= self.margin * solve:
                    continue
            keep.append(i)
        return keep

    def _hopeless(self, i: int) -> bool:
        """A tried strategy whose measured forming alone costs the default's whole solve cannot
        pay, whatever it saves: it is not tried until the solves get dearer (on Heat2D nx=100 a
        projection formed on a new matrix costs 1–3 ms, a whole solve 1.4 ms, and each try cost
        0.2 % of the run)."""
        g = self._known_forming(i)
        return g is not None and self._base is not None and g >= self._base

    def _known_forming(self, i: int) -> float | None:
        """The measured forming seconds of tried strategy ``i``, else the most measured for one of
        its kind over a span no larger (projecting onto more solutions costs no less), else
        ``None``: on Heat2D nx=100 projection(k=4) measured 2 ms, twice a solve, and trying
        projection(k=8) to learn that it costs more cost another 2.6 ms."""
        g = self._guess_s[i]
        arm = self.arms[i]
        if g is not None or not arm.span:
            return g
        smaller = [self._guess_s[j] for j, a in enumerate(self.arms)
                   if type(a) is type(arm) and a.span and a.span <= arm.span and self._guess_s[j] is not None]
        return max(smaller, default=None)

    def _rest_if_dear(self, i: int) -> None:
        """After the first round, a tried strategy scored clearly dearer than the default sits
        out 1, 2, 4 … ``MAX_REST`` rounds; one that is not is tried in the next."""
        if i and self.rounds_ >= 1 and self.scores_[i] > self.scores_[0] + REST_MARGIN:
            if self._rest[i] == 0:  # found dear again (paired samples come within a round too)
                self._backoff[i] = min(MAX_REST, 2 * self._backoff[i] or 1)
                self._rest[i] = self._backoff[i]
        elif i:
            self._backoff[i] = 0

    def _pick(self) -> None:
        # the first candidate (the default) is kept unless another is clearly cheaper: one noisy
        # round must not switch to a strategy that only ties
        scores = self.scores_ if not self._out else np.where(
            np.isin(np.arange(len(self.arms)), list(self._out)), np.inf, self.scores_)
        best = int(np.argmin(scores))
        self.best_ = best if self.scores_[best] < self.scores_[0] - self.margin else 0

    def _close_round(self) -> None:
        # a round that could try nothing because a strategy still lacks its solutions is no round
        # of exploration: it does not lengthen the epochs
        explored = bool(self._round) or self._challenger is not None or not self._unready
        if self._challenger is not None:
            self._settle_duel()
            self._challenger, self._duel = None, []
        costs = self._round_costs() if self._round else {}
        # relative to the default, which is in every round (a resting strategy is not)
        ref = costs[0] if 0 in costs else sum(costs.values()) / max(1, len(costs))
        weight = max(self.decay, 1.0 / (self.rounds_ + 1))  # a plain mean over the first rounds
        for i, v in costs.items():
            self.scores_[i] += weight * (v - ref - self.scores_[i])
            self._rest_if_dear(i)
        self.rounds_ += explored
        self._pick()
        self._left = min(self.max_epoch, self.first_epoch * 2 ** max(0, self.rounds_ - 1))
        if self._unready:  # a strategy left out for want of solutions: a round as soon as it has them
            self._left = min(self._left, self._unready)

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
        #: whether every guess is a stored vector handed back (see :attr:`GuessChooser.stored`)
        self.stored = not guess.arithmetic

    @property
    def name(self) -> str:
        return self.spec

    @property
    def arithmetic(self) -> bool:
        """Whether the strategy computes (``False``: it hands back a stored vector, no BLAS)."""
        return self.guess.arithmetic

    def form(self, A: Any, b: np.ndarray, key: Hashable | None) -> tuple[np.ndarray | None, str]:
        return _safe_form(self.guess, A, b, key), self.guess.name

    def update(self, A: Any, b: np.ndarray, x: np.ndarray, key: Hashable | None) -> None:
        self.guess.update(A, b, x, key)

    def learn(self, seconds: float, iterations: int | None = None, guess_seconds: float = 0.0) -> None:
        pass

    def defer(self) -> None:
        pass

    def discard(self) -> None:
        pass

    def reset(self) -> None:
        self.guess.reset()

    @property
    def memory_vectors(self) -> int:
        return self.guess.memory_vectors


def _difficulty(iterations: float) -> int:
    """The difficulty bin of a solve of ``iterations`` (``KAPPA_BINS_PER_OCTAVE`` per octave)."""
    return int(math.floor(KAPPA_BINS_PER_OCTAVE * math.log2(max(0.0, iterations) + 1.0)))


def _history_needed(arms: Sequence[Guess]) -> int:
    """Solutions the shared history keeps for ``arms``: older ones would leave every strategy's
    window anyway; one more for the span bound (:mod:`.bound`)."""
    return 1 + max(max(getattr(a, "window", 0), getattr(a, "k", 0), getattr(a, "order", 0) + 1, 1) for a in arms)


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


def make_guesser(initial_guess: "str | Guess | Sequence[str | Guess]",
                 tolerance: float = 1e-8) -> GuessChooser | FixedGuess:
    """What ``SequenceSolver(initial_guess=...)`` accepts: a spec, ``"auto"``, a :class:`Guess`,
    or a list of specs to choose among online (``tolerance``: the solves' relative accuracy)."""
    if isinstance(initial_guess, str) and initial_guess.strip() == "auto":
        return GuessChooser(tolerance=tolerance)
    if isinstance(initial_guess, (list, tuple)):
        return GuessChooser(initial_guess, tolerance=tolerance)
    return FixedGuess(parse_guess(initial_guess))
