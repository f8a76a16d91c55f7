"""What any guess built from the last solutions could at best save: a cheap test before a try.

A strategy that needs products with ``A`` (``projection(k)``, ``pod``) can only be judged by
trying it, and a try costs its forming (on a new operator ``k`` products with ``A``: a few
solves' worth on a cheap solve) whether it pays or not.  Two bounds say, from the history alone,
when no such try can pay, so that it is not made:

- *the span*: every such guess lies in the span of the last ``k`` solutions, so it cannot be
  closer to the newest solution than that solution's least-squares fit in the span of the ``k``
  before it (in the 2-norm; Galerkin is best in the A-norm, so this is an optimistic proxy, not
  a proof).  Where even the fit is barely better than ``previous``'s error, no projection pays.
- *the iterations*: a guess saves iterations, and a start whose error is above the tolerance
  still needs one.  A solve of one iteration (an exact or structured solver: fast-diag-CG does
  one whatever the start) leaves nothing to save; :func:`.hindsight.predicted_iterations` keeps
  this floor too.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def span_errors(xs: Sequence[np.ndarray], depths: Sequence[int]) -> tuple[float, dict[int, float]]:
    """``previous``'s relative error on the newest solution ``xs[-1]`` and, for each ``k`` in
    ``depths``, the relative 2-norm error of the best approximation of the
    newest solution ``xs[-1]`` in the span of the ``k`` before it (``xs[-2]``, ``xs[-3]`` …), for
    the ``k`` that ``xs`` holds.  One Gram matrix of the *differences* of consecutive solutions
    (better conditioned than of the nearly parallel solutions) and one Cholesky factorisation:
    ``O(n k²)`` once, for all depths."""
    xs = list(xs)
    x = xs[-1]
    xnorm = float(np.linalg.norm(x))
    top = min(max(depths, default=0), len(xs) - 1)
    if top < 1 or not (xnorm > 0.0 and math.isfinite(xnorm)):
        return math.nan, {}
    # rows: x_{t-1}, then x_{t-j} − x_{t-j-1} (j = 1 … top-1): the span of x_{t-1} … x_{t-top};
    # last, x_t − x_{t-1}: its distance from the span of the rows before is x_t's from that span
    D = np.empty((top + 1, x.shape[0]))
    D[0] = xs[-2]
    for j in range(1, top):
        np.subtract(xs[-1 - j], xs[-2 - j], out=D[j])
    np.subtract(x, xs[-2], out=D[top])
    G = D @ D.T
    scale = np.sqrt(np.maximum(np.diag(G), np.finfo(float).tiny))
    G = G / np.outer(scale, scale) + 1e-13 * np.eye(top + 1)  # a dependent row cannot stop the factorisation
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return math.nan, {}
    # the last row of L: the components of the last row of D along the orthonormalised rows before it;
    # its squared distance from the span of the first k rows is the sum of the squares from k on
    tail = L[-1] ** 2
    out = {}
    for k in depths:
        if 1 <= k <= top:
            out[k] = float(math.sqrt(max(0.0, tail[k:].sum())) * scale[-1] / xnorm)
    return float(scale[-1] / xnorm), out


def iterations_saved(iterations: float, err_used: float, err: float, tol: float) -> float:
    """At most how many of a solve's ``iterations`` (from a start with relative error ``err_used``)
    a start with relative error ``err`` would save, at the uniform rate (the optimistic end of
    :func:`.hindsight.predicted_iterations`) and with the floor of one iteration for any start
    above the tolerance.  All of them where the errors say nothing (the used start was already
    at the tolerance, yet the solve iterated: its iterations are not about this start's error)."""
    if not iterations > 0:
        return 0.0
    need_used = math.log(max(err_used, tol) / tol)
    if not need_used > 0.0 or not math.isfinite(err) or err <= tol:
        return float(iterations)
    need = math.log(err / tol)
    return max(0.0, iterations - max(1.0, iterations * need / need_used))
