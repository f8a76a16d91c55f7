"""The ``seqsolve`` logger: quiet unless the application asks (library convention).

One logger, ``logging.getLogger("seqsolve")``, with a :class:`logging.NullHandler`, so nothing
is printed unless the application configures logging (``logging.basicConfig(level="INFO")``)
or the CLI is run with ``-v``.  INFO lines say what a user would otherwise not see: a fallback
ran, the iteration limit of an attempt was lower than ``maxiter`` (a capped exploration), a
policy explored.  DEBUG lines give every attempt.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("seqsolve")
logger.addHandler(logging.NullHandler())


def enable(level: int | str = logging.INFO) -> logging.Handler:
    """Print seqsolve's log lines on stderr (what the CLI's ``-v`` does); returns the handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("seqsolve %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def solve_logged(record, attempts: list[tuple[str, str, int]], cap: int, maxiter: int) -> None:
    """Log what a user would not otherwise see about one solve (called only when INFO is on).

    ``attempts``: ``(configuration, status, iterations)`` in order, the first being the policy's
    choice; ``cap``: the iteration limit that choice ran under; ``maxiter``: the user's limit.
    """
    i, first = record.index, attempts[0]
    if record.explored:
        logger.info("system %d: exploring %s (%s, %d iterations)", i, first[0], first[1], first[2])
    if cap < maxiter and first[1] != "converged":
        logger.info("system %d: %s stopped at %d iterations, the policy's cap for this attempt (your maxiter is "
                    "%d); %s", i, first[0], first[2], maxiter,
                    "its convergence rate was recorded as its projected cost" if record.explored
                    else "the incumbent overran its usual cost")
    for name, status, its in attempts[1:]:
        logger.info("system %d: fallback %s after %s stopped (%s): %d iterations, %s", i, name, first[0],
                    first[1], its, status)
    if record.iterations > maxiter:
        logger.info("system %d: %d iterations over %d attempts; maxiter=%d bounds each attempt, not their sum",
                    i, record.iterations, len(attempts), maxiter)
    logger.debug("system %d: %s, %d iterations, setup %.3g s, solve %.3g s, residual %.2e", i,
                 record.configuration, record.iterations, record.setup_seconds, record.solve_seconds, record.residual)
