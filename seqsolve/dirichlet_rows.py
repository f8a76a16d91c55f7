"""Rows that only fix an unknown — Dirichlet conditions applied by replacing rows — eliminated.

Why: a finite-element code that imposes ``u_i = g_i`` by zeroing row ``i`` and putting a nonzero on
its diagonal (legacy FEniCS's ``bc.apply(A)``, PETSc's ``MatZeroRows``, scikit-fem's ``enforce``)
hands over a matrix that is *not symmetric* — the columns of those unknowns are kept — although
the system on the other unknowns is.  The SPD methods were then out of reach: on a transient heat
sequence (33k unknowns, scikit-fem's ``enforce``) ``auto`` used an LU, 4.5x what it took on the
same system with the rows condensed.  Such a row says ``x_i = b_i / a_ii``; moved to the right-hand
side, the rest is ``A_RR x_R = b_R − A_RD x_D``, solved as any system of the sequence (symmetric
again, so CG and its preconditioners apply), and ``x`` is put back together.

The true residual is the same vector: ``r_D = b_D − a_DD x_D = 0`` and ``r_R`` is the reduced
system's, so the accuracy contract carries over with the reduced tolerance tightened where
``‖b_R − A_RD x_D‖`` exceeds ``‖b‖`` (:meth:`RowElimination.rtol_for`).

Found once per sparsity pattern (a pattern whose first matrix has no such row is not searched
again) and checked on every matrix: the rows must still hold nothing but their diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .pattern_memo import PatternMemo


@dataclass(frozen=True)
class Reduced:
    """One system with its fixed unknowns moved to the right-hand side."""

    A: sp.csr_array  # A_RR
    b: np.ndarray  # b_R − A_RD x_D
    rows: np.ndarray  # R: the unknowns left to solve for
    fixed: np.ndarray  # D
    x_fixed: np.ndarray  # x_D = b_D / a_DD

    def expand(self, x_rest: np.ndarray, n: int) -> np.ndarray:
        """The whole solution from the reduced system's."""
        x = np.empty(n)
        x[self.fixed] = self.x_fixed
        x[self.rows] = x_rest
        return x


class _Plan:
    """Index maps of one pattern and one set of fixed rows (reused while both hold)."""

    def __init__(self, A: sp.csr_array, entry_rows: np.ndarray, fixed: np.ndarray) -> None:
        n = A.shape[0]
        self.fixed = fixed
        free = np.ones(n, dtype=bool)
        free[fixed] = False
        self.rows = np.flatnonzero(free)
        renumber = np.cumsum(free) - 1
        row_free, col_free = free[entry_rows], free[A.indices]
        self.keep = np.flatnonzero(row_free & col_free)
        self.indices = renumber[A.indices[self.keep]].astype(A.indices.dtype)
        counts = np.bincount(renumber[entry_rows[self.keep]], minlength=self.rows.size)
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(A.indptr.dtype)
        coupling = np.flatnonzero(row_free & ~col_free)
        self.coupling, self.coupling_rows = coupling, renumber[entry_rows[coupling]]
        self.coupling_cols = A.indices[coupling]
        # the fixed rows' entries: all zero but the diagonal, on every matrix this plan serves
        in_fixed = ~row_free
        self.diagonal = np.flatnonzero(in_fixed & (A.indices == entry_rows))
        self.off = np.flatnonzero(in_fixed & (A.indices != entry_rows))


class _PatternRows:
    """What one sparsity pattern showed: its entries' rows, and its plan (or that it has none)."""

    def __init__(self, A: sp.csr_array) -> None:
        self.entry_rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        self.plan: _Plan | None = None
        self.none = False  # the pattern's first matrix had no such row


class RowElimination:
    """Finds the rows that fix an unknown in a non-symmetric matrix, and reduces its system."""

    def __init__(self) -> None:
        # per pattern: the reduced system is a pattern of its own (solved as a system of the
        # sequence, so searched too), and splittings alternate a few (seqsolve.pattern_memo)
        self._patterns = PatternMemo()

    def reduce(self, A: sp.csr_array, pattern: tuple, b: np.ndarray) -> Reduced | None:
        """``A x = b`` with its fixed unknowns eliminated, or ``None`` (no such row, or every row)."""
        known = self._patterns.get(pattern)
        if known is None:
            known = self._patterns.put(pattern, _PatternRows(A))
        if known.none:
            return None
        plan = known.plan
        if plan is None or (plan.off.size and np.any(A.data[plan.off])) or not np.all(A.data[plan.diagonal]):
            fixed = _fixed_rows(A, known.entry_rows)
            if fixed.size == 0 or fixed.size == A.shape[0]:
                known.none = plan is None  # (searched once per pattern; a later change keeps looking)
                known.plan = None
                return None
            plan = known.plan = _Plan(A, known.entry_rows, fixed)
        data = A.data
        x_fixed = b[plan.fixed] / data[plan.diagonal]
        x_full = np.zeros(A.shape[0])
        x_full[plan.fixed] = x_fixed
        rest = b[plan.rows] - np.bincount(plan.coupling_rows, weights=data[plan.coupling] * x_full[plan.coupling_cols],
                                          minlength=plan.rows.size)
        A_rest = sp.csr_array((data[plan.keep], plan.indices, plan.indptr), shape=(plan.rows.size, plan.rows.size))
        return Reduced(A_rest, rest, plan.rows, plan.fixed, x_fixed)

    @staticmethod
    def rtol_for(rtol: float, bnorm: float, rest: float) -> float:
        """The reduced system's relative tolerance (its right-hand side's norm ``rest``) that keeps
        ``‖r‖ ≤ rtol ‖b‖`` for the whole one."""
        return rtol if rest <= bnorm or rest == 0.0 else rtol * bnorm / rest


def _fixed_rows(A: sp.csr_array, entry_rows: np.ndarray) -> np.ndarray:
    """Rows holding one nonzero value, on the diagonal (stored zeros beside it allowed)."""
    n = A.shape[0]
    off = (A.indices != entry_rows) & (A.data != 0)
    coupled = np.bincount(entry_rows[off], minlength=n) > 0
    on_diagonal = A.indices == entry_rows
    diagonal = np.zeros(n)
    diagonal[entry_rows[on_diagonal]] = A.data[on_diagonal]
    return np.flatnonzero(~coupled & (diagonal != 0))
