"""The policy seam: an online learner that picks a configuration per system and learns from costs.

Conventions follow scikit-learn's online learners: hyperparameters are stored unchanged by
``__init__``; learned state lives in trailing-underscore attributes; :meth:`Policy.update`
returns ``self``; ``state_dict``/``load_state_dict`` carry what was learned across runs; ``get_params`` and
``set_params`` read and change the hyperparameters.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..configs import Configuration
from ..errors import ConfigurationError
from ..records import SolveRecord


class SystemFacts:
    """What the solver knows about the next system before a configuration is chosen.

    ``repeated``: its matrix equals the previous one.  ``ready``: the names of configurations
    whose setup (a factorisation, a hierarchy) is already built for this very matrix — a sunk
    cost, so choosing one of them costs only its solve.  ``ready`` may be given as a function
    computing it: it is then computed on first use only (a policy that commits to a choice for a
    stretch of systems never asks, and the solver spares the work on every system).
    ``separable``: ``A`` lives on a grid found in its pattern and (judged on the pattern's first
    matrix asked about) equals its Kronecker sum there, so ``fastdiag-cg`` solves it in one step
    (:func:`~seqsolve.operators.grid.separable`); computed on first use too, as it costs a projection.
    """

    __slots__ = ("n", "repeated", "A", "_ready", "_separable", "_constant_diagonal")

    def __init__(self, n: int, repeated: bool = False, ready: "frozenset | Callable[[], frozenset]" = frozenset(),
                 A: Any = None, separable: "bool | Callable[[], bool]" = False,
                 constant_diagonal: "bool | Callable[[], bool] | None" = None) -> None:
        self.n, self.repeated, self.A, self._ready = n, repeated, A, ready
        self._separable = separable
        self._constant_diagonal = constant_diagonal

    @property
    def separable(self) -> bool:
        if not isinstance(self._separable, bool):
            self._separable = bool(self._separable())
        return self._separable

    @property
    def ready(self) -> frozenset:
        if not isinstance(self._ready, frozenset):
            self._ready = frozenset(self._ready())
        return self._ready

    def __repr__(self) -> str:
        return f"SystemFacts(n={self.n}, repeated={self.repeated}, ready={set(self.ready) or {}})"

    def constant_diagonal(self) -> bool:
        """Whether every diagonal entry of ``A`` is the same: Jacobi preconditioning is then a
        scaling, and Jacobi-PCG takes exactly CG's iterations (computed on demand, O(n), unless the
        caller knows it: the solver judges a pattern's first matrix asked about)."""
        known = self._constant_diagonal
        if known is not None:
            if not isinstance(known, bool):
                known = self._constant_diagonal = bool(known())
            return known
        return constant_diagonal(self.A)


#: ``ln(2 / rtol) / 2`` at rtol 1e-8: CG's iterations per unit of ``√κ`` (the textbook bound)
_CG_ITERATIONS_PER_ROOT = 9.6


def prior_difficulty(A: Any) -> tuple[float, bool] | None:
    """A prior for how hard ``A`` is, in Jacobi-PCG iterations to rtol 1e-8 (the unit of the
    learner's ``DIFFICULTY_EXPONENT``), from its diagonal dominance; ``None`` for an operator.

    Gershgorin: if every row has ``|a_ii| ≥ δ Σ_{j≠i} |a_ij|`` with ``δ > 1``, the Jacobi-scaled
    spectrum lies in ``[1 − 1/δ, 1 + 1/δ]``, so ``κ ≤ (δ + 1)/(δ − 1)`` and CG needs at most about
    ``9.6 √κ`` iterations: Heat2D's early Crank–Nicolson steps (δ ≈ 98) need ten at most.  Where
    no row has a margin to spare (a stiffness matrix, a pressure Poisson operator: δ ≤ 1) nothing
    is proved, and a 2-D elliptic operator's growth is assumed, ``9.6 √n`` (κ ∝ n), which the bound
    caps where it exists.  Returns ``(difficulty, proved)``: whether Gershgorin proved that bound.
    One product's work, once per size: it orders first tries only."""
    if not sp.issparse(A) or A.shape[0] == 0:
        return None
    A = sp.csr_array(A)
    n = A.shape[0]
    rows = sp.csr_array((np.abs(A.data), A.indices, A.indptr), shape=A.shape) @ np.ones(n)  # Σ_j |a_ij|
    diagonal = np.abs(A.diagonal())
    off = rows - diagonal
    guess = _CG_ITERATIONS_PER_ROOT * math.sqrt(n)
    coupled = off > 0
    if not coupled.any() or (diagonal[coupled] == 0).any():
        return guess, False  # a diagonal matrix is trivial, a coupled zero diagonal unbounded: no proof
    delta = float(np.min(diagonal[coupled] / off[coupled]))
    if delta <= 1.0:
        return guess, False
    bound = _CG_ITERATIONS_PER_ROOT * math.sqrt((delta + 1.0) / (delta - 1.0))
    return (bound, True) if bound < guess else (guess, False)


def diagonal_verdict(A: Any) -> tuple[bool, bool]:
    """What ``A``'s diagonal proves: ``(not_definite, saddle)`` — an entry ``a_ii = e_iᵀAe_i < 0``,
    or ``= 0`` in a row coupled to others (``A`` is then not positive semidefinite), and such a
    coupled zero (a saddle point — Stokes, Oseen, mixed forms, constraints by Lagrange multipliers —
    has a zero block there).  A zero row of an unknown no equation uses proves nothing: CG solves
    such a consistent system.  ``(False, False)`` where nothing is proved, or for an operator.  On
    a symmetric matrix so proved CG has no guarantee, and a Jacobi or SSOR preconditioner cannot be
    built (a zero pivot) or is not SPD (a negative one); on a saddle point, Krylov methods without
    a preconditioner made for it stagnate (BiCGStab on an Oseen system: 950 iterations, 2x an LU)."""
    diagonal = getattr(A, "diagonal", None)
    if diagonal is None or not sp.issparse(A):
        return False, False
    d = diagonal()
    if d.size == 0:
        return False, False
    zero = d == 0
    if not zero.any():
        return bool((d < 0).any()), False
    A = sp.csr_array(A)
    coupled = sp.csr_array((np.abs(A.data), A.indices, A.indptr), shape=A.shape) @ np.ones(A.shape[1]) > 0
    saddle = bool((zero & coupled).any())  # (on a zero diagonal, the row's sum is its coupling)
    return bool((d < 0).any()) or saddle, saddle


def constant_diagonal(A: Any) -> bool:
    """Whether ``A`` has one nonzero value all along its diagonal (``False`` for an operator)."""
    diagonal = getattr(A, "diagonal", None)
    if diagonal is None:
        return False
    d = diagonal()
    return d.size > 0 and bool(d[0] != 0 and (d == d[0]).all())


class Stretch:
    """A policy's commitment to ``config`` for the next ``systems`` systems of size ``n`` (see
    :meth:`Policy.stretch`): the solver runs it without asking, while a solve converges at once and
    its ``solve_seconds`` (plus its ``setup_seconds`` where ``charge_setup``) stays at most
    ``ceiling``, and hands the records back in one batch.

    ``admits(context)`` (``None``: every context) says whether a system's context is one the
    commitment covers; ``new_matrix_ends``: a new matrix ends the stretch before it is solved
    (where runs of one matrix repeat, a factorisation may pay on the next one)."""

    __slots__ = ("config", "left", "ceiling", "limit", "n", "allowed", "records", "admits", "new_matrix_ends",
                 "charge_setup")

    def __init__(self, config: Configuration, systems: int, ceiling: float, limit: int | None, *,
                 admits: Callable[[Mapping[str, float] | None], bool] | None = None,
                 new_matrix_ends: bool = False, charge_setup: bool = False) -> None:
        self.config, self.left, self.ceiling, self.limit = config, systems, ceiling, limit
        self.admits, self.new_matrix_ends, self.charge_setup = admits, new_matrix_ends, charge_setup
        self.n: int | None = None
        self.allowed: object = None
        self.records: list[SolveRecord] = []

    def ends_after(self, record: SolveRecord, attempts: int = 1) -> bool:
        """Whether the stretch must end with ``record`` (handed back now): its last system, a solve
        that did not converge at once, or one slow enough that the policy might end the commitment."""
        cost = record.solve_seconds + (record.setup_seconds if self.charge_setup else 0.0)
        return self.left <= 0 or not record.converged or attempts > 1 or cost > self.ceiling


class Policy(ABC):
    """Chooses a configuration for each system of a sequence."""

    #: the policy string that recreates this policy, e.g. ``"fixed:cg"``
    spec: str = ""

    @abstractmethod
    def candidates(self) -> Sequence[Configuration]:
        """Every configuration this policy may return."""

    @abstractmethod
    def select(self, context: Mapping[str, float] | None = None, *,
               allowed: Sequence[Configuration] | None = None, n: int | None = None) -> Configuration:
        """Choose a configuration for the next system.

        ``allowed`` restricts the choice to configurations applicable to this system (e.g. no
        SPD-only method for a non-symmetric matrix); ``None`` means all candidates are allowed.
        ``n`` is the number of unknowns, for policies whose costs depend on size.
        """

    @abstractmethod
    def update(self, cost: float, info: SolveRecord) -> "Policy":
        """Learn from the measured cost (seconds) of the configuration last selected."""

    def observe(self, facts: SystemFacts) -> None:
        """Facts about the next system, given just before :meth:`select` (ignored by default)."""

    def stretch(self) -> Stretch | None:
        """Asked after :meth:`update`: a commitment to the configuration just chosen for the next
        systems whose context it admits (``None``, the default: choose each).  The solver then runs
        them without :meth:`select`/:meth:`update` calls — choosing costs nothing on systems solved
        in a fraction of a millisecond — and gives their records to :meth:`absorb` before anything
        reads the policy again (its next choice, a save, an access to ``solver.policy``)."""
        return None

    def absorb(self, records: list[SolveRecord]) -> None:
        """Learn from the records of a :meth:`stretch`'s systems, in order, as if each had been
        selected and updated (a policy that returns stretches must implement it)."""
        raise NotImplementedError

    def attempt_limit(self) -> int | None:
        """Iteration cap for the configuration just selected (``None``: the solver's ``maxiter``).

        A learner exploring a configuration it does not trust yet caps it, so a bad choice costs
        a bounded amount before the solver falls back.
        """
        return None

    def attempt_budget(self) -> float | None:
        """Seconds the iterations of the configuration just selected may cost before it is
        abandoned (``None``: no such budget; a setup is not counted: it is spent once built).

        An iteration cap priced with a guessed speed is only as good as the guess: a method whose
        iterations cost ten times the guess overruns it tenfold.  With a budget the solver runs a
        short first chunk, measures the speed, and stops once the projected cost exceeds it.
        """
        return None

    def attempt_rent(self) -> float | None:
        """Seconds the iterations of the configuration just selected may cost before the solver
        stops it and asks :meth:`resume` whether to run on (``None``: no such limit).

        Unlike :meth:`attempt_budget`, no projection stops it earlier: it is for a first try whose
        early convergence rate says little (CG's residual may grow before it falls), rented
        against the factorisation the solver would fall back to."""
        return None

    def fallback_first_try(self, config: Configuration) -> tuple[int, float | None] | None:
        """``(limit, rent)`` where the fallback ``config`` is to run as the selected configuration's
        first try would have (the first try a cheap probe went before): capped at ``limit``
        iterations, rented for ``rent`` seconds (:meth:`attempt_rent`; ``None``: no rent), then
        asked whether to :meth:`resume`.  ``None``: an ordinary fallback."""
        return None

    def explored(self) -> bool:
        """Whether the configuration just selected is an exploration (for the report)."""
        return False

    def fallback_hint(self) -> Configuration | None:
        """A configuration to try first if the selected one fails (e.g. the best one known)."""
        return None

    def resume(self, config: Configuration, remaining_seconds: float) -> bool:
        """Whether the selected ``config``, stopped at its iteration cap, should run on from its
        iterate: its measured rate projects ``remaining_seconds`` more to finish (default: no, the
        solver falls back as usual)."""
        return False

    def rescued(self, config: Configuration, setup_seconds: float, solve_seconds: float, *,
                iterations: int = 0, one_off_seconds: float = 0.0) -> None:
        """Told after :meth:`update` when a fallback ``config`` solved the system the selected one
        failed (in ``iterations``, its setup including ``one_off_seconds`` of work never repeated):
        what it cost there is a measurement too (ignored by default)."""

    def state_dict(self) -> dict:
        """What was learned, as JSON-serialisable data."""
        return {}

    def load_state_dict(self, state: Mapping) -> "Policy":
        """Restore what :meth:`state_dict` returned."""
        return self

    # ------------------------------------------------------------------ hyperparameters
    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's arguments (scikit-learn's convention: they are the hyperparameters)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def _param_value(self, name: str) -> Any:
        # stored as given, or under a name that does not clash with a method (``candidates_list``)
        for attr in (name, f"{name}_list", "arms" if name in ("arms", "candidates") else None):
            if attr and attr in vars(self) and not callable(vars(self)[attr]):
                value = vars(self)[attr]
                break
        else:
            return None
        if isinstance(value, Configuration):
            return value.name
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Configuration) for v in value):
            return [v.name for v in value]
        return value

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, by constructor argument name (configurations by their names)."""
        return {name: self._param_value(name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Policy":
        """Change hyperparameters that are read while running (caps, discount, …); returns ``self``.

        The new values are checked by building a fresh policy with them.  Learned state is kept,
        so arguments that shape it (the candidates, the seed) cannot change here: build a new
        policy for those.
        """
        names = self._param_names()
        for name in params:
            if name not in names:
                raise ConfigurationError(f"{type(self).__name__} has no parameter {name!r}; its parameters: "
                                         f"{', '.join(names)}")
            if name not in vars(self) or callable(getattr(self, name)) or name in _FIXED_AT_CONSTRUCTION:
                raise ConfigurationError(f"{type(self).__name__}: {name!r} is fixed when the policy is built; "
                                         f"create a new policy with {name}={params[name]!r}")
            _check_number(type(self).__name__, name, getattr(self, name), params[name])
        merged = {k: v for k, v in self.get_params().items() if v is not None}
        merged.update(params)
        try:
            type(self)(**merged)  # validates the values exactly as the constructor does
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{type(self).__name__}: invalid parameters {params}: {exc}") from None
        for name, value in params.items():
            setattr(self, name, value)
        return self


#: hyperparameters that learned state or helper objects were built from (see ``set_params``)
_FIXED_AT_CONSTRUCTION = frozenset({"candidates", "arms", "seed", "configuration", "context_key",
                                    "context_range", "eta0", "cost"})


def _check_number(owner: str, name: str, old: Any, new: Any) -> None:
    """A numeric hyperparameter stays a finite number >= 0 (an integer if it was one)."""
    if not isinstance(old, (int, float)) or isinstance(old, bool):
        return
    kinds = (int,) if isinstance(old, int) else (int, float)
    if isinstance(new, bool) or not isinstance(new, kinds) or not math.isfinite(new) or new < 0:
        kind = "an integer" if kinds == (int,) else "a finite number"
        raise ConfigurationError(f"{owner}: {name} must be {kind} >= 0, got {new!r}")
