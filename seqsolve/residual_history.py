"""Residual history on request (``SequenceSolver(record_residuals=True)``).

Methods report iterates through the callback: SciPy's Krylov methods and SOR after every
iteration, compiled and direct methods once per call (the solver calls them in chunks).  For each
reported iterate the true relative residual ``‖b − A xₖ‖/‖b‖`` is appended, computed on the
system the method runs on (the solver's exactly rescaled copy, which has the same relative
residuals).  A refinement step solves ``A d = r`` for the residual ``r``: then ``‖r − A d‖`` is the
residual of the corrected solution, so the history stays one curve.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def recording(callback: Callable | None, A: Any, b: np.ndarray, bnorm: float, out: list[float]) -> Callable:
    """``callback`` (or nothing) plus appending ``‖b − A xk‖ / bnorm`` to ``out`` for each iterate."""
    scale = 1.0 / bnorm if bnorm > 0 else 1.0

    def record(xk: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            out.append(float(np.linalg.norm(b - A @ np.ravel(xk))) * scale)
        if callback is not None:
            callback(xk)

    return record
