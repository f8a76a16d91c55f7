"""What a learner did along a sequence, in words a user can check: ``solver.report()``.

A history of :class:`~seqsolve.records.SolveRecord` says, per system, which configuration was
chosen, whether that was an exploration, whether it was capped (and what its convergence rate
projected) and whether a fallback ran.  The report turns that into: where the time went
(exploiting, exploring, real fallbacks), which configuration ran along the sequence, how each
configuration fared where it ran (so the best single configuration can be estimated), and why
each exploration stopped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from .records import SolveRecord


def _role(r: SolveRecord) -> str:
    if r.explored:
        return "explore"
    return "fallback" if r.fallback else "exploit"


def segments(history: list[SolveRecord]) -> list[tuple[int, int, str, int]]:
    """Stretches of the sequence by the configuration exploited there: ``(first, last, name, count)``.

    Explorations and fallbacks inside a stretch do not split it; stretches shorter than three
    systems are folded into the one before, so the table stays readable.
    """
    runs: list[list] = []
    for r in history:
        if r.explored or r.fallback or not runs or runs[-1][2] == r.configuration:
            if not runs:
                runs.append([r.index, r.index, r.configuration, 0])
            runs[-1][1] = r.index
            if not (r.explored or r.fallback) and runs[-1][2] == r.configuration:
                runs[-1][3] += 1
        else:
            runs.append([r.index, r.index, r.configuration, 1])
    merged: list[list] = []
    for run in runs:
        if merged and (run[3] < 3 or merged[-1][2] == run[2]):
            merged[-1][1] = run[1]
            if merged[-1][2] == run[2]:
                merged[-1][3] += run[3]
        else:
            merged.append(run)
    return [tuple(m) for m in merged]


def summary_by_role(history: Iterable[SolveRecord]) -> dict[str, dict]:
    """Solves and seconds spent exploiting, exploring and in real fallbacks."""
    out: dict[str, dict] = {k: {"solves": 0, "seconds": 0.0} for k in ("exploit", "explore", "fallback")}
    for r in history:
        role = _role(r)
        out[role]["solves"] += 1
        out[role]["seconds"] += r.seconds
    return out


def per_configuration(history: Iterable[SolveRecord]) -> dict[str, dict]:
    """Per configuration: solves where it was chosen, mean seconds of its own attempt, iterations."""
    acc: dict[str, dict] = defaultdict(lambda: {"solves": 0, "seconds": 0.0, "iterations": 0, "capped": 0})
    for r in history:
        a = acc[r.configuration]
        a["solves"] += 1
        a["seconds"] += r.attempt_seconds or r.seconds
        a["iterations"] += r.iterations
        a["capped"] += r.projected_seconds is not None
    return {k: dict(v, mean_ms=1e3 * v["seconds"] / v["solves"]) for k, v in acc.items()}


def report(history: list[SolveRecord], *, title: str = "seqsolve report") -> str:
    """A Markdown report of ``history`` (see the module docstring)."""
    if not history:
        return f"# {title}\n\nNo systems solved yet.\n"
    total = sum(r.seconds for r in history)
    roles = summary_by_role(history)
    lines = [f"# {title}", "",
             f"{len(history):,} systems, {total:.3f} s solver time "
             f"(setup + iterations + residual checks; policy bookkeeping "
             f"{sum(r.policy_seconds for r in history):.3f} s more).", "",
             "| where the time went | systems | seconds | share |", "|---|---:|---:|---:|"]
    names = {"exploit": "exploiting the best known configuration", "explore": "exploring (capped tries)",
             "fallback": "real failures repaired by a fallback"}
    for role in ("exploit", "explore", "fallback"):
        v = roles[role]
        lines.append(f"| {names[role]} | {v['solves']:,} | {v['seconds']:.3f} | "
                     f"{100 * v['seconds'] / total if total else 0:.1f} % |")
    guesses = Counter(r.initial_guess for r in history)
    if set(guesses) != {"previous"}:
        lines += ["", "Initial guesses: " + ", ".join(f"`{g}` {c:,}" for g, c in guesses.most_common())
                  + f" systems; forming them cost {sum(r.guess_seconds for r in history):.3f} s (in setup)."]
    failed = sum(1 for r in history if not r.converged)
    if failed:
        lines.append(f"\n{failed} systems ended in a ConvergenceError.")

    lines += ["", "## Configurations where they ran", "",
              "| configuration | chosen | mean ms of its own attempt | iterations | capped |",
              "|---|---:|---:|---:|---:|"]
    table = per_configuration(history)
    for name, v in sorted(table.items(), key=lambda kv: -kv[1]["solves"]):
        lines.append(f"| `{name}` | {v['solves']:,} | {v['mean_ms']:.3f} | {v['iterations']:,} | {v['capped']} |")
    lines += ["", "Mean costs are over the systems where each configuration ran, which differ in difficulty; "
              "compare them within a stretch of the sequence below, not across it."]

    lines += ["", "## Along the sequence", "", "| systems | mostly | its solves |", "|---|---|---:|"]
    for first, last, name, count in segments(history):
        lines.append(f"| {first}–{last} | `{name}` | {count:,} |")

    stopped = [r for r in history if r.projected_seconds is not None]
    if stopped:
        lines += ["", "## Attempts stopped early, and why", "",
                  "| system | configuration | iterations | its cost so far, ms | projected to finish, ms | then |",
                  "|---:|---|---:|---:|---:|---|"]
        for r in stopped[:50]:
            proj = "no progress" if r.projected_seconds == float("inf") else f"{1e3 * r.projected_seconds:.3f}"
            then = f"fallback `{r.fallback}`" if r.fallback else "failed"
            lines.append(f"| {r.index} | `{r.configuration}` | {r.iterations:,} | {1e3 * r.attempt_seconds:.3f} | "
                         f"{proj} | {then} |")
        if len(stopped) > 50:
            lines.append(f"| … | {len(stopped) - 50} more | | | | |")
        lines += ["", "A stopped attempt is not retried blindly: its projected cost is what the learner "
                  "records for it."]
    return "\n".join(lines) + "\n"


def history_from_dicts(rows: object) -> list[SolveRecord]:
    """Rebuild records from ``SolveRecord.to_dict`` rows (a saved history), checking every value:
    a malformed file gives :class:`~seqsolve.InvalidSystemError`, never another exception."""
    from .errors import InvalidSystemError

    if not isinstance(rows, list):
        raise InvalidSystemError("a history must be a list of solve records")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidSystemError(f"history entry {i} is not a record")
        try:
            rec = {k: row[k] for k in _TYPES if k in row}
            for key, kinds in _TYPES.items():
                if key in rec and not (isinstance(rec[key], kinds) and not isinstance(rec[key], bool)
                                       or (bool in kinds and isinstance(rec[key], bool))
                                       or (rec[key] is None and type(None) in kinds)):
                    raise TypeError(key)
            rec["context"] = {str(k): float(v) for k, v in dict(rec.get("context") or {}).items()}
            if row.get("residuals") is not None:  # (saved with record_residuals=True)
                if not isinstance(row["residuals"], list):
                    raise TypeError("residuals")
                rec["residuals"] = tuple(float(v) for v in row["residuals"])
            out.append(SolveRecord(**rec))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidSystemError(f"history entry {i} is malformed ({exc})") from None
    return out


_TYPES: dict[str, tuple] = {
    "index": (int,), "configuration": (str,), "iterations": (int,), "setup_seconds": (int, float),
    "solve_seconds": (int, float), "residual": (int, float), "converged": (bool,),
    "fallback": (str, type(None)), "status": (str,), "setup_reused": (bool,), "policy_seconds": (int, float),
    "context": (dict,), "attempt_seconds": (int, float), "projected_seconds": (int, float, type(None)),
    "projected_iterations": (int, float, type(None)),
    "explored": (bool,), "matrix_repeated": (bool,), "initial_guess": (str,), "guess_seconds": (int, float),
    "one_off_seconds": (int, float),
}
