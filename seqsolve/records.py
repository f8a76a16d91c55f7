"""The feedback of one solve (what a policy learns from) and summaries of many."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Iterable, Mapping


@dataclass(frozen=True)
class SolveRecord:
    """One solve of a sequence, with honest costs.

    ``setup_seconds`` covers preconditioner/factorisation builds (zero when reused),
    ``solve_seconds`` the iterations plus the true-residual check and any fallback iterations;
    ``policy_seconds`` is the time the policy spent choosing and learning.
    """

    index: int
    configuration: str
    iterations: int
    setup_seconds: float
    solve_seconds: float
    residual: float
    converged: bool
    fallback: str | None = None
    #: the chosen configuration's outcome: ``"converged"``, ``"maxiter"``, ``"breakdown"`` …, or
    #: ``"start"``: the start already met the tolerance, checked before anything was built or run
    #: (after a system whose start met it too), so the record says nothing about the configuration
    status: str = "converged"
    setup_reused: bool = False
    policy_seconds: float = 0.0
    context: Mapping[str, float] = field(default_factory=dict)
    #: seconds the chosen configuration itself ran (setup + iterations), fallbacks excluded
    attempt_seconds: float = 0.0
    #: when the chosen configuration stopped short (cap, stagnation): its projected total seconds to
    #: reach the tolerance, from the convergence rate it showed (``inf``: no progress); else ``None``
    projected_seconds: float | None = None
    #: the same projection in iterations (deterministic, for ``AutoPolicy(cost="iterations")``)
    projected_iterations: float | None = None
    #: whether the policy chose this configuration to explore (rather than as its best known)
    explored: bool = False
    #: whether ``A`` was the same matrix (values and pattern) as in the previous solve — or, where
    #: a configuration keeps setups for matrices that come back (:mod:`seqsolve.recurring`), as in
    #: one of the solves a few systems back (alternating operators)
    matrix_repeated: bool = False
    #: true relative residual of each iterate the methods reported, in order (``None`` unless
    #: ``SequenceSolver(record_residuals=True)``; see :mod:`seqsolve.residual_history`)
    residuals: tuple[float, ...] | None = None
    #: the initial-guess strategy that formed ``x0`` (``"x0"``: the caller's; ``"zero"``: none;
    #: ``"unused"``: the configuration ignores ``x0`` — a factorisation, an exact structured solve)
    initial_guess: str = "previous"
    #: seconds spent forming and updating the guess (already included in ``setup_seconds``)
    guess_seconds: float = 0.0
    #: seconds of the chosen configuration's setup spent on work it never repeats (a graph
    #: partition made once per size; already included in ``setup_seconds``)
    one_off_seconds: float = 0.0

    @classmethod
    def of(cls, fields: dict) -> "SolveRecord":
        """A record from a complete mapping of field names to values, as ``SolveRecord(**fields)``
        gives, without the frozen ``__init__``'s ``object.__setattr__`` per field (~20 of them:
        several µs on every solve, the solver's hot path).  Every field must be given: only the
        count is checked here (the names are the caller's, and its tests', to get right).  The
        record takes ``fields`` itself as its attribute dictionary: the caller must not keep it."""
        if len(fields) != len(_FIELD_NAMES):
            missing, extra = _FIELD_NAMES - fields.keys(), fields.keys() - _FIELD_NAMES
            raise TypeError(f"SolveRecord.of: missing {sorted(missing)}, unknown {sorted(extra)}")
        out = object.__new__(cls)
        object.__setattr__(out, "__dict__", fields)  # frozen: set past __setattr__, before anyone sees it
        return out

    def with_policy_seconds(self, seconds: float) -> "SolveRecord":
        """A copy with ``policy_seconds`` set (known only after the policy learned from this record).

        A shallow copy with one field set, made by copying the instance dictionary:
        ``dataclasses.replace`` re-runs ``__init__`` over all fields and ``copy.copy`` goes through
        the pickle protocol, each ~2-10 µs on every solve."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.__dict__["policy_seconds"] = seconds  # frozen: set past __setattr__, before anyone sees it
        return out

    @property
    def seconds(self) -> float:
        """Wall time charged to this solve: setup + solve (policy overhead excluded)."""
        return self.setup_seconds + self.solve_seconds

    def to_dict(self) -> dict:
        d = asdict(self)
        d["context"] = dict(self.context)
        if self.residuals is None:
            del d["residuals"]  # off by default: saved histories stay as they were
        else:
            d["residuals"] = list(self.residuals)
        return d


_FIELD_NAMES = frozenset(f.name for f in fields(SolveRecord))


def summarize(records: Iterable[SolveRecord]) -> dict:
    """Totals over records: the numbers a benchmark table prints."""
    records = list(records)
    per_config = Counter(r.configuration for r in records)
    setup = sum(r.setup_seconds for r in records)
    solve = sum(r.solve_seconds for r in records)
    return {
        "solves": len(records),
        "total_iterations": int(sum(r.iterations for r in records)),
        "total_seconds": setup + solve,
        "setup_seconds": setup,
        "solve_seconds": solve,
        "policy_seconds": sum(r.policy_seconds for r in records),
        "fallbacks": sum(1 for r in records if r.fallback),
        # of which the policy's capped explorations (its try stopped at the cap, another configuration
        # finished the system): the price of learning, not a failure
        "capped_explorations": sum(1 for r in records if r.fallback and r.explored),
        "failures": sum(1 for r in records if not r.converged),
        "max_residual": max((r.residual for r in records), default=0.0),
        "configurations": dict(per_config.most_common()),
    }
