"""Structured operators (Kronecker sums and products) and the structure hints that reach solvers."""

from .kronecker import Factor, KroneckerProduct, KroneckerSum, apply_along
from .structure import (
                        Structure,
                        as_structure,
                        is_structured,
                        kronecker_distance,
                        nearest_kronecker_sum,
                        structure_for,
)

__all__ = [
                        "Factor",
                        "KroneckerProduct",
                        "KroneckerSum",
                        "Structure",
                        "apply_along",
                        "as_structure",
                        "is_structured",
                        "kronecker_distance",
                        "nearest_kronecker_sum",
                        "structure_for",
]
