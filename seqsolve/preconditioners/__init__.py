"""Preconditioners: each turns a matrix into a LinearOperator ``M ≈ A⁻¹`` (the setup step)."""

from .amg import smoothed_aggregation
from .ilu import ilu
from .jacobi import jacobi
from .ssor import ssor

__all__ = ["jacobi", "ssor", "smoothed_aggregation", "ilu"]
