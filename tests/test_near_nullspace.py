"""User knowledge in: a near-null space reaches PyAMG and pays on elasticity."""

from __future__ import annotations

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp

import seqsolve
from conftest import assert_contract
from seqsolve.preconditioners import amg


def test_near_nullspace_reaches_pyamg(monkeypatch):
    seen = []
    real = amg.pyamg.smoothed_aggregation_solver

    def spy(A, B=None, **kw):
        seen.append(B)
        return real(A, B=B, **kw)

    monkeypatch.setattr(amg.pyamg, "smoothed_aggregation_solver", spy)
    A = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(60, 60)))
    B = np.ones((60, 2))
    B[:, 1] = np.arange(60)
    s = seqsolve.SequenceSolver(policy="fixed:amg-cg(adaptive)")
    x = s.solve(A, np.ones(60), near_nullspace=B)
    assert_contract(A, np.ones(60), x, 1e-8)
    assert seen and seen[-1].shape == (60, 2) and np.array_equal(seen[-1], B)
    # new modes, same matrix: the hierarchy is rebuilt with them, not reused
    s.solve(A, np.ones(60), near_nullspace=B * 2.0)
    assert len(seen) == 2 and np.array_equal(seen[-1], 2.0 * B)


def test_rigid_body_modes_cut_amg_iterations_on_elasticity():
    # PyAMG's gallery returns the rigid-body modes B next to the Q1 elasticity matrix
    A, B = pyamg.gallery.linear_elasticity((40, 40), format="csr")
    A = sp.csr_array(A)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    plain = seqsolve.SequenceSolver(policy="fixed:amg-cg(rebuild)", fallback=False)
    x0 = plain.solve(A, b)
    informed = seqsolve.SequenceSolver(policy="fixed:amg-cg(rebuild)", fallback=False)
    x1 = informed.solve(A, b, near_nullspace=B)
    assert np.linalg.norm(b - A @ x1) <= 1e-8 * np.linalg.norm(b)
    assert informed.history[-1].iterations < 0.7 * plain.history[-1].iterations
    assert np.allclose(x0, x1, rtol=1e-4, atol=1e-6 * np.abs(x0).max())


@pytest.mark.parametrize("bad", [np.ones((5, 2)), np.full((60, 1), np.nan), np.ones((60, 0)), "modes",
                                 np.ones((60, 2)) * 1j])
def test_bad_near_nullspace_is_a_seqsolve_error(bad):
    A = sp.csr_array(sp.diags([2.0], [0], shape=(60, 60)))
    with pytest.raises(seqsolve.SeqsolveError, match="near_nullspace"):
        seqsolve.solve(A, np.ones(60), near_nullspace=bad)
