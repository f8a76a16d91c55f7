"""The one place that imports petsc4py: lazily, with an error that says how to install it."""

from __future__ import annotations

import functools
import glob
import os

from ...errors import ConfigurationError


class BackendUnavailableError(ConfigurationError):
    """The requested backend's engine is not installed (petsc4py missing or unusable)."""


def _hint() -> str:
    found = sorted(glob.glob("/usr/lib/petscdir/petsc*/x86_64-linux-gnu-real"))
    where = (f" (Debian's build is installed: export PETSC_DIR={found[-1]})"
             if found and not os.environ.get("PETSC_DIR") else "")
    return ("backend='petsc' needs petsc4py >= 3.18: on Debian/Ubuntu `apt-get install python3-petsc4py-real "
            "mpi-default-bin` and a venv made with `--system-site-packages` and `numpy<2`; or "
            f"`pip install petsc petsc4py` (builds PETSc from source, about an hour){where}")


@functools.lru_cache(maxsize=1)
def petsc():
    """The ``petsc4py.PETSc`` module, initialised once; :class:`BackendUnavailableError` if absent."""
    try:
        import petsc4py

        petsc4py.init()
        from petsc4py import PETSc
    except ImportError as exc:
        raise BackendUnavailableError(f"{_hint()} [{exc}]") from None
    except Exception as exc:  # e.g. "numpy.dtype size changed": petsc4py built against another NumPy
        raise BackendUnavailableError(f"petsc4py is installed but does not load ({exc}); {_hint()}") from None
    return PETSc


def available() -> bool:
    """True when petsc4py imports and works (used to skip PETSc tests with a reason)."""
    try:
        petsc()
    except BackendUnavailableError:
        return False
    return True


def is_petsc_object(obj, kind: str) -> bool:
    """True for a petsc4py ``Mat``/``Vec`` — checked by type name so petsc4py is never imported for it."""
    t = type(obj)
    return t.__module__.startswith("petsc4py") and t.__name__ == kind
