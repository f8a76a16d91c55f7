"""PETSc objects seqsolve never destroys: a workaround for PETSc 3.18 (Debian 12's build).

Destroying a KSP whose PC is GAMG — explicitly, through petsc4py's garbage collection, or in
PetscFinalize's garbage cleanup at exit — crashed the interpreter intermittently (SIGSEGV in
VecDestroy under PCReset_MG/KSPReset, backtrace taken with gdb; about one test run in four).
Every KSP and Mat the backend makes is kept here for the life of the process; the list itself
holds an extra reference, so interpreter teardown does not free it before PetscFinalize.  The
cost, per process: one Mat per sparsity pattern, and per configuration one KSP per pattern (a
factorisation: one per setup held at once, each refactorised for later matrices of its pattern).
Patterns that come back reuse theirs (:class:`~seqsolve.backends.petsc.matrices.MatCache` keeps
the last four), so two systems taking turns make two Mats, not one per solve.
"""

from __future__ import annotations

import ctypes

IMMORTAL: list = []
ctypes.pythonapi.Py_IncRef(ctypes.py_object(IMMORTAL))
