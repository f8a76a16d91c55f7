"""Backends execute configurations: ``scipy`` (default, in-process) and ``petsc`` (petsc4py, optional)."""

from .base import Backend
from .scipy_backend import ScipyBackend



def _petsc() -> Backend:
    from .petsc import PetscBackend  # petsc4py is imported only when this backend is asked for

    return PetscBackend()


BACKENDS = {"scipy": ScipyBackend, "petsc": _petsc}


def get_backend(name: str | Backend = "scipy") -> Backend:
    """Return a backend instance by name (or pass one through)."""
    if isinstance(name, Backend):
        return name
    try:
        return BACKENDS[name]()
    except KeyError:
        from ..errors import ConfigurationError

        raise ConfigurationError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}") from None


__all__ = ["Backend", "ScipyBackend", "get_backend", "BACKENDS"]
