"""A matrix whose entries all lie near its diagonal: a *narrow band*, and what that says.

Why: a 1-D problem (a rod, a cable, a channel, a Black–Scholes grid), or a few fields coupled along
a line, gives a matrix whose entries satisfy ``|i − j| ≤ w`` for a small ``w`` in the numbering it
comes in.  Its condition grows like ``n²`` (a 1-D Laplacian), so CG-type methods need thousands of
iterations, while a factorisation fills nothing outside the band and costs ``O(n·w²)``: on 200,000
unknowns (``w = 1``) SSOR-PCG ran 10,318 iterations, 45 s, for a system a factorisation solves in
30 ms.  The band is read off the pattern (SciPy's ``spbandwidth``), with no search — a proof, not a guess.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: the widest band treated as narrow: on 200,000 unknowns PETSc's own Cholesky in the natural
#: ordering took 35 / 114 / 153 / 813 ms at w = 4 / 10 / 16 / 32 (MUMPS ~2 s at every w; SciPy's
#: SuperLU 150 ms at w = 1), where a nested-dissection ordering starts to pay
NARROW_BAND = 16


#: a band is narrow only for a matrix at least this many times ``w²`` long: a thin strip or a line,
#: not a small square grid numbered row by row (``n = w²``, a 2-D problem whose band is all of it)
THIN = 8


def narrow_band(A) -> int:
    """The width ``w`` of the sparse matrix ``A``'s band if it is narrow — ``1 ≤ w ≤ NARROW_BAND``
    and ``n ≥ THIN·w²`` — else 0 (also for an operator).  A few sampled rows refute most matrices
    before the full pass (SciPy's ``spbandwidth``)."""
    if not sp.issparse(A) or A.shape[0] < THIN or A.nnz == 0:  # (spbandwidth fails on no entries)
        return 0
    from scipy.sparse.linalg import spbandwidth  # (lazy: ``import seqsolve`` loads no solver module)

    A = A if A.format == "csr" else sp.csr_array(A)
    n, indptr, indices = A.shape[0], A.indptr, A.indices
    for i in np.linspace(0, n - 1, 16).astype(np.int64):
        cols = indices[indptr[i]:indptr[i + 1]]
        if cols.size and max(int(cols.max()) - int(i), int(i) - int(cols.min())) > NARROW_BAND:
            return 0
    w = max(spbandwidth(A))
    return w if 1 <= w <= NARROW_BAND and n >= THIN * w * w else 0
