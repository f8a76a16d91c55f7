"""Matrix Market sequences: save/load round trips, matrices carried over steps without an A file,
and clear InvalidSystemErrors for missing, mismatched or corrupt files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import seqsolve
from seqsolve import InvalidSystemError, SequenceSolver
from seqsolve.problems import Heat2D, MatrixMarketSequence, save_sequence
from seqsolve.problems.matrix_market import read_matrix, read_vector, write_atomic

from conftest import assert_contract, poisson2d, reference_solve


def heat2d_systems(nx: int = 5, steps: int = 6, dt: float = 0.05):
    """The systems of a short Heat2D run (advanced with exact solves), as LinearSystems."""
    p = Heat2D(nx=nx, steps=steps, dt=dt)
    out = []
    for _ in range(steps):
        s = p.system()
        out.append(s)
        p.accept(reference_solve(s.A, s.b))
    return out


def solve_all(problem, policy="fixed:cg", rtol=1e-10):
    """Solve a sequence step by step, returning the systems seen and the solutions."""
    solver = SequenceSolver(rtol=rtol, policy=policy)
    problem.reset()
    seen = []
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b, context=s.context)
        seen.append((s, x))
        problem.accept(x)
    return seen, solver


def write_mm(path, obj):
    """Write with SciPy directly (independent of seqsolve's writer)."""
    obj = sp.coo_matrix(obj) if sp.issparse(obj) else np.asarray(obj, dtype=float).reshape(-1, 1)
    scipy.io.mmwrite(str(path), obj)


# ----------------------------------------------------------------------------- round trips
def test_write_atomic_round_trip_and_no_leftovers(tmp_path):
    A = poisson2d(4)
    v = np.random.default_rng(0).standard_normal(16)
    write_atomic(tmp_path / "A.mtx", A)
    write_atomic(tmp_path / "v.mtx", v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.mtx", "v.mtx"]
    assert (tmp_path / "A.mtx").stat().st_size > 0
    assert abs(read_matrix(tmp_path / "A.mtx") - A).max() == 0.0
    np.testing.assert_array_equal(read_vector(tmp_path / "v.mtx"), v)  # full precision
    # overwriting works too
    write_atomic(tmp_path / "v.mtx", 2 * v)
    np.testing.assert_array_equal(read_vector(tmp_path / "v.mtx"), 2 * v)


def test_save_and_run_heat2d_sequence(tmp_path):
    systems = heat2d_systems()
    assert save_sequence(tmp_path, systems) == len(systems)
    names = sorted(p.name for p in tmp_path.iterdir())
    for k in range(len(systems)):
        assert f"b_{k:04d}.mtx" in names
        assert f"A_{k:04d}.mtx" in names  # c changes every step, so does A
        assert f"context_{k:04d}.json" in names
    problem = MatrixMarketSequence(tmp_path)
    assert problem.steps == len(systems)
    seen, solver = solve_all(problem)
    for (s, x), orig in zip(seen, systems):
        assert abs(sp.csr_array(s.A) - orig.A).max() == 0.0
        np.testing.assert_array_equal(s.b, orig.b)
        assert s.context == pytest.approx(dict(orig.context))
        assert_contract(s.A, s.b, x, 1e-10)
        np.testing.assert_allclose(x, reference_solve(orig.A, orig.b), rtol=1e-8, atol=1e-12)
    # the same through seqsolve.run
    r = seqsolve.run(problem, SequenceSolver(rtol=1e-10, policy="fixed:direct"), progress=False)
    assert len(r.history) == len(systems)
    assert [h.context for h in r.history] == [dict(s.context) for s in systems]
    np.testing.assert_allclose(r.state, reference_solve(systems[-1].A, systems[-1].b), rtol=1e-10, atol=1e-14)
    assert r.problem["name"] == "matrix-market" and r.problem["steps"] == len(systems)


def test_save_sequence_skips_unchanged_matrices(tmp_path):
    A1 = poisson2d(4)
    A2 = sp.csr_array(A1 + 0.5 * sp.eye_array(16))
    rng = np.random.default_rng(1)
    bs = [rng.standard_normal(16) for _ in range(5)]
    mats = [A1, A1.copy(), A2, A2, A1]
    save_sequence(tmp_path, [(A, b) for A, b in zip(mats, bs)])
    a_files = sorted(p.name for p in tmp_path.glob("A_*.mtx"))
    assert a_files == ["A_0000.mtx", "A_0002.mtx", "A_0004.mtx"]
    assert not list(tmp_path.glob("context_*"))
    seen, _ = solve_all(MatrixMarketSequence(tmp_path), policy="fixed:ssor-cg(omega=1.5)")
    for (s, x), A, b in zip(seen, mats, bs):
        assert abs(sp.csr_array(s.A) - A).max() == 0.0
        assert_contract(A, b, x, 1e-10)


def test_hand_written_sequence_with_matrices_at_steps_0_and_2(tmp_path):
    A0 = poisson2d(3)
    A2 = sp.csr_array(2.0 * A0 + sp.eye_array(9))
    write_mm(tmp_path / "A_0000.mtx", A0)
    write_mm(tmp_path / "A_0002.mtx", A2)
    bs = [np.arange(1.0, 10.0) * (k + 1) for k in range(4)]
    for k, b in enumerate(bs):
        write_mm(tmp_path / f"b_{k:04d}.mtx", b)
    (tmp_path / "context_0003.json").write_text(json.dumps({"c": 2.5}))
    problem = MatrixMarketSequence(tmp_path)
    assert problem.steps == 4
    expected = [A0, A0, A2, A2]
    r = seqsolve.run(problem, SequenceSolver(rtol=1e-11, policy="fixed:gmres"), progress=False)
    assert len(r.history) == 4
    assert r.history[3].context == {"c": 2.5} and r.history[0].context == {}
    seen, solver = solve_all(problem, policy="fixed:direct", rtol=1e-11)
    for (s, x), A, b in zip(seen, expected, bs):
        assert abs(sp.csr_array(s.A) - A).max() == 0.0
        assert_contract(A, b, x, 1e-11)
    # the factorisation of A_0000 is reused for step 1, rebuilt for step 2, reused for step 3
    assert [h.setup_reused for h in solver.history] == [False, True, False, True]


def test_unpadded_file_names(tmp_path):
    A = poisson2d(3)
    write_mm(tmp_path / "A_0.mtx", A)
    for k in range(3):
        write_mm(tmp_path / f"b_{k}.mtx", np.ones(9) * (k + 1))
    seen, _ = solve_all(MatrixMarketSequence(tmp_path))
    assert len(seen) == 3
    for (s, x), k in zip(seen, range(3)):
        assert_contract(A, np.ones(9) * (k + 1), x, 1e-10)


def test_reset_and_end_of_sequence(tmp_path):
    save_sequence(tmp_path, [(poisson2d(3), np.ones(9)), (poisson2d(3), 2 * np.ones(9))])
    p = MatrixMarketSequence(tmp_path)
    p.accept(np.zeros(9))
    p.accept(np.zeros(9))
    with pytest.raises(IndexError):
        p.system()
    p.reset()
    assert p.step == 0 and p.system().index == 0


def test_read_vector_accepts_row_and_column(tmp_path):
    v = np.arange(5.0)
    scipy.io.mmwrite(str(tmp_path / "col.mtx"), v.reshape(-1, 1))
    scipy.io.mmwrite(str(tmp_path / "row.mtx"), v.reshape(1, -1))
    scipy.io.mmwrite(str(tmp_path / "sparse.mtx"), sp.coo_matrix(v.reshape(-1, 1)))
    for name in ("col.mtx", "row.mtx", "sparse.mtx"):
        np.testing.assert_array_equal(read_vector(tmp_path / name), v)
    scipy.io.mmwrite(str(tmp_path / "mat.mtx"), np.ones((3, 2)))
    with pytest.raises(InvalidSystemError, match="vector"):
        read_vector(tmp_path / "mat.mtx")


# ----------------------------------------------------------------------------- errors
def _valid(tmp_path, steps=3, n=9):
    write_mm(tmp_path / "A_0000.mtx", poisson2d(3))
    for k in range(steps):
        write_mm(tmp_path / f"b_{k:04d}.mtx", np.ones(n))


def test_missing_b(tmp_path):
    _valid(tmp_path)
    (tmp_path / "b_0001.mtx").unlink()
    with pytest.raises(InvalidSystemError, match=r"missing.*\[1\]"):
        MatrixMarketSequence(tmp_path)


def test_no_b_at_all(tmp_path):
    write_mm(tmp_path / "A_0000.mtx", poisson2d(3))
    with pytest.raises(InvalidSystemError, match="b_0000"):
        MatrixMarketSequence(tmp_path)


def test_missing_first_matrix(tmp_path):
    _valid(tmp_path)
    (tmp_path / "A_0000.mtx").unlink()
    write_mm(tmp_path / "A_0001.mtx", poisson2d(3))
    with pytest.raises(InvalidSystemError, match="A_0000"):
        MatrixMarketSequence(tmp_path)


def test_not_a_directory(tmp_path):
    with pytest.raises(InvalidSystemError, match="not a directory"):
        MatrixMarketSequence(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidSystemError, match="not a directory"):
        MatrixMarketSequence(tmp_path / "file")


def test_size_mismatch(tmp_path):
    _valid(tmp_path)
    write_mm(tmp_path / "b_0002.mtx", np.ones(8))
    p = MatrixMarketSequence(tmp_path)
    with pytest.raises(InvalidSystemError, match="length 8"):
        seqsolve.run(p, SequenceSolver(), progress=False)


def test_size_mismatch_after_matrix_change(tmp_path):
    _valid(tmp_path)
    write_mm(tmp_path / "A_0001.mtx", poisson2d(4))  # 16 x 16, but b stays 9
    p = MatrixMarketSequence(tmp_path)
    p.accept(np.zeros(9))
    with pytest.raises(InvalidSystemError, match="16"):
        p.system()


@pytest.mark.parametrize("which", ["A_0000.mtx", "b_0001.mtx"])
@pytest.mark.parametrize("content", ["this is not a matrix\n", "",
                                     "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n"],
                         ids=["garbage", "empty", "truncated"])
def test_corrupt_file(tmp_path, which, content):
    _valid(tmp_path)
    (tmp_path / which).write_text(content)
    p = MatrixMarketSequence(tmp_path)
    with pytest.raises(InvalidSystemError) as info:
        seqsolve.run(p, SequenceSolver(), progress=False)
    assert which in str(info.value)


def test_non_square_matrix_file(tmp_path):
    _valid(tmp_path)
    write_mm(tmp_path / "A_0000.mtx", sp.csr_array(np.ones((9, 8))))
    with pytest.raises(InvalidSystemError, match="square"):
        seqsolve.run(MatrixMarketSequence(tmp_path), SequenceSolver(), progress=False)


def test_complex_matrix_file(tmp_path):
    _valid(tmp_path)
    write_mm(tmp_path / "A_0000.mtx", sp.csr_array(poisson2d(3) * (1 + 1j)))
    with pytest.raises(InvalidSystemError, match="complex"):
        MatrixMarketSequence(tmp_path).system()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"c": "high"}'])
def test_corrupt_context(tmp_path, content):
    _valid(tmp_path)
    (tmp_path / "context_0000.json").write_text(content)
    with pytest.raises(InvalidSystemError, match="context_0000"):
        MatrixMarketSequence(tmp_path).system()
