"""Compiled pattern check for :mod:`seqsolve.operators.grid`: does a CSR pattern couple along one grid axis only?

A sequence whose pattern changes every step (Fluid2D's moving obstacles) re-checks its grid on
every new pattern; in NumPy that is ~2 ms at 16k unknowns (temporaries per axis), here one pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def axis_couplings(indptr, indices, shape, every):  # pragma: no cover - compiled
    """Per axis, how many stored couplings of every ``every``-th row run along it; ``-1`` in slot 0
    when one changes more than one grid index (or none, off the diagonal): then the pattern is no
    grid of ``shape``."""
    D = shape.shape[0]
    counts = np.zeros(D, np.int64)
    n = indptr.shape[0] - 1
    for i in range(0, n, every):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                continue
            a, b = i, j
            axis = -1
            changed = 0
            for d in range(D - 1, -1, -1):  # the last axis varies fastest (C order)
                m = shape[d]
                if a % m != b % m:
                    changed += 1
                    axis = d
                a //= m
                b //= m
            if changed != 1:
                counts[0] = -1
                return counts
            counts[axis] += 1
    return counts
