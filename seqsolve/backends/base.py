"""The backend seam: turns a :class:`~seqsolve.configs.Configuration` into a runnable Method.

The SciPy backend (the default) runs everything in this process with SciPy, PyAMG and Numba.
The PETSc backend maps the same configurations onto KSP/PC options, so policies never need to
know which engine executes their choice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..configs import Configuration
from ..solvers.base import Method


class Backend(ABC):
    """Builds methods for configurations and says which configurations it supports."""

    name: str = "backend"
    #: runs ``fast-diag`` (an exact structured solve: NumPy transforms, no engine needed) when a
    #: structure hint comes with the system, and ``fastdiag-cg`` where a grid is found in A's
    #: pattern (or handed over), so ``auto`` offers both
    structured: bool = False

    @abstractmethod
    def supports(self, config: Configuration) -> bool:
        """Whether this backend can run ``config``."""

    @abstractmethod
    def build(self, config: Configuration) -> Method:
        """A fresh Method for ``config`` (cheap: expensive work belongs in ``Method.setup``)."""

    def portfolio(self) -> list[Configuration]:
        """Every configuration this backend offers a learning policy (before it drops dominated ones)."""
        from ..configs import portfolio

        return [c for c in portfolio() if self.supports(c)]
