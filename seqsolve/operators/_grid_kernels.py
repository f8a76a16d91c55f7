"""Compiled pattern checks for :mod:`seqsolve.operators.grid`: which offsets does a CSR pattern
use, and does it couple along one grid axis only?

Grid detection runs on the first matrix of every sequence ``auto`` sees, and a sequence whose
pattern changes every step (Fluid2D's moving obstacles) re-checks its grid on every new pattern.
In NumPy that was ~3 ms at 16k unknowns (temporaries the size of the pattern, a division per
entry and axis); here two passes that read the pattern once each.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def distinct_offsets(indptr, indices, limit):  # pragma: no cover - compiled
    """The sorted distinct ``|j − i|`` of the stored off-diagonal entries, or an empty array when
    there are more than ``limit`` of them (an unstructured pattern: no grid)."""
    n = indptr.shape[0] - 1
    seen = np.empty(limit + 1, np.int64)
    count = 0
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            d = indices[k] - i
            if d < 0:
                d = -d
            if d == 0:
                continue
            new = True
            for s in range(count):
                if seen[s] == d:
                    new = False
                    break
            if new:
                if count == limit:
                    return np.empty(0, np.int64)
                seen[count] = d
                count += 1
    return np.sort(seen[:count])


@njit(cache=True)
def axis_couplings(indptr, indices, coords, every):  # pragma: no cover - compiled
    """Per axis, how many stored couplings of every ``every``-th row run along it; ``-1`` in slot 0
    when one changes more than one grid index (or none, off the diagonal): then the pattern is no
    grid.  ``coords[d, i]`` is unknown ``i``'s index along axis ``d`` (loads, not divisions)."""
    D = coords.shape[0]
    counts = np.zeros(D, np.int64)
    n = indptr.shape[0] - 1
    for i in range(0, n, every):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                continue
            axis = -1
            changed = 0
            for d in range(D):
                if coords[d, i] != coords[d, j]:
                    changed += 1
                    axis = d
            if changed != 1:
                counts[0] = -1
                return counts
            counts[axis] += 1
    return counts
