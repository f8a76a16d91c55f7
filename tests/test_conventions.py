"""The ecosystem's conventions: lazy import, M=, (x, info), several right-hand sides, residual
history, logging, get_params/set_params — and the README's example, run as written."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import seqsolve
from seqsolve import ConfigurationError, InvalidSystemError, SequenceSolver, UnsupportedTypeError, linalg
from seqsolve.policies import AutoPolicy, ChebCBPolicy, FixedPolicy, TsallisINFPolicy, make_policy

from conftest import assert_contract, poisson2d, random_nonsymmetric

REPO = Path(__file__).resolve().parents[1]
A = poisson2d(12)  # 144 unknowns, SPD
N = A.shape[0]
B = np.random.default_rng(0).standard_normal(N)


# ----------------------------------------------------------------------------- first run
def test_import_is_lazy_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import seqsolve; t = time.perf_counter() - t; "
            "heavy = [m for m in ('numba', 'torch', 'pyamg', 'matplotlib', 'rich', 'scipy.sparse.linalg') "
            "if m in sys.modules]; print(t, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                         check=True).stdout.split(maxsplit=1)
    assert float(out[0]) < 2.0, out  # generous: ~0.1 s on the 2-core machine
    assert out[1].strip() == "[]", out


def test_lazy_names_resolve():
    assert seqsolve.SequenceSolver is SequenceSolver
    assert seqsolve.problems.Heat2D.__name__ == "Heat2D"
    assert callable(seqsolve.linalg.cg) and callable(seqsolve.run)
    assert {"SequenceSolver", "linalg", "problems"} <= set(dir(seqsolve))
    with pytest.raises(AttributeError):
        seqsolve.no_such_name


def test_readme_examples_run_as_written(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example writes a folder of Matrix Market files
    text = (REPO / "README.md").read_text()
    block = re.search(r"## A complete example\n\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    solver = namespace["solver"]
    assert len(solver.history) == 50 and all(r.converged for r in solver.history)
    assert "seqsolve report" in capsys.readouterr().out
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    names: dict = {}
    for block in blocks[1:]:
        namespace = {}
        exec(compile(block, "README.md", "exec"), namespace)
        names.update(namespace)
    assert names["info"] == 0 and names["X"].shape == (2000, 3)
    assert len(list((tmp_path / "seq").glob("b_*.mtx"))) == 20


# ----------------------------------------------------------------------------- M=
def _jacobi(A):
    return sp.diags_array(1.0 / A.diagonal())


@pytest.mark.parametrize("form", ["sparse", "linear-operator", "callable", "dense"])
def test_user_preconditioner_forms(form):
    D = _jacobi(A)
    calls = []

    def apply(r):
        calls.append(1)
        return D @ r

    M = {"sparse": D, "linear-operator": sla.aslinearoperator(D), "callable": apply, "dense": D.toarray()}[form]
    s = SequenceSolver(policy="fixed:user-cg", rtol=1e-10)
    x = s.solve(A, B, M=M)
    assert_contract(A, B, x, 1e-10)
    assert s.history[-1].configuration == "user-cg" and s.history[-1].fallback is None
    if form == "callable":
        assert len(calls) >= s.history[-1].iterations


def test_user_preconditioner_one_off_and_nonsymmetric():
    x = seqsolve.solve(A, B, M=_jacobi(A))
    assert_contract(A, B, x, 1e-8)
    G = random_nonsymmetric(60, seed=1)
    s = SequenceSolver(policy="fixed:user-gmres", rtol=1e-10)
    x = s.solve(G, np.ones(60), M=sla.spilu(sp.csc_matrix(G)).solve)
    assert_contract(G, np.ones(60), x, 1e-10)
    assert s.history[-1].configuration == "user-gmres"


def test_auto_weighs_the_user_preconditioner_against_its_own():
    exact = sla.factorized(sp.csc_matrix(A))  # a perfect preconditioner: CG converges at once
    s = SequenceSolver(policy="auto:cost=iterations", rtol=1e-8)
    for k in range(12):
        s.solve(A, B + k, M=exact)
    used = [r.configuration for r in s.history]
    assert "user-cg" in used
    assert "user-gmres" not in used  # on a symmetric matrix CG with M does the same for less
    assert used[-1] == "user-cg"  # one iteration: nothing of auto's own is cheaper
    assert any(c != "user-cg" for c in used)  # and auto still tried its own


def test_user_preconditioner_errors():
    with pytest.raises(InvalidSystemError, match="shape"):
        seqsolve.solve(A, B, M=sp.identity(N + 1))
    with pytest.raises(UnsupportedTypeError, match="M must be"):
        seqsolve.solve(A, B, M="jacobi")
    with pytest.raises(InvalidSystemError, match="length"):
        seqsolve.solve(A, B, M=lambda r: r[:3])
    with pytest.raises(InvalidSystemError, match="failed"):
        SequenceSolver(policy="fixed:user-cg").solve(A, B, M=lambda r: 1 / 0)
    with pytest.raises(ConfigurationError, match="uses it"):
        SequenceSolver(policy="fixed:numba-cg").solve(A, B, M=_jacobi(A))
    with pytest.raises(ConfigurationError, match="pass M="):
        SequenceSolver(policy="fixed:user-cg").solve(A, B)


def test_auto_without_M_never_runs_user_kinds():
    s = SequenceSolver(policy="auto")
    for k in range(5):
        s.solve(A, B + k)
    assert not any(r.configuration.startswith("user-") for r in s.history)


# ----------------------------------------------------------------------------- (x, info)
def test_linalg_cg_and_gmres_match_scipy_form():
    x, info = linalg.cg(A, B, rtol=1e-10)
    xs, infos = sla.cg(A, B, rtol=1e-10)
    assert info == 0 == infos
    assert_contract(A, B, x, 1e-10)
    np.testing.assert_allclose(x, xs, rtol=1e-6, atol=1e-9)
    G = random_nonsymmetric(50, seed=2)
    x, info = linalg.gmres(G, np.ones(50), rtol=1e-10, M=_jacobi(G))
    assert info == 0
    assert_contract(G, np.ones(50), x, 1e-10)
    seen = []
    x, info = linalg.cg(A, B, callback=lambda xk: seen.append(xk.copy()))
    assert info == 0 and seen


def test_linalg_reports_non_convergence_in_info_without_raising():
    S = sp.csr_array(sp.diags([1.0, 1.0, 0.0]))  # singular, and b is not in its range
    x, info = linalg.cg(S, np.ones(3), rtol=1e-10, maxiter=20)
    assert info > 0
    assert x.shape == (3,) and np.all(np.isfinite(x))
    with pytest.raises(InvalidSystemError):  # bad input still raises
        linalg.cg(A, np.ones(N + 1))


def test_linalg_gmres_callback_needs_callback_type_x():
    G = random_nonsymmetric(30, seed=3)
    with pytest.raises(ConfigurationError, match="callback_type='x'"):
        linalg.gmres(G, np.ones(30), callback=print)
    x, info = linalg.gmres(G, np.ones(30), callback=lambda xk: None, callback_type="x")
    assert info == 0


def test_linalg_sequence_learns_across_calls():
    linalg.reset()
    for k in range(4):
        x, info = linalg.auto_cg(A, B + k, rtol=1e-8)
        assert info == 0
    (solver,) = linalg._SHARED.solvers_.values()
    assert len(solver.history) == 4 and solver.policy.spec == "auto"
    linalg.reset()
    assert not linalg._SHARED.solvers_
    seq = linalg.Sequence(policy="fixed:direct")
    assert seq.cg(A, B)[1] == 0 and seq.gmres(A, B)[1] == 0
    assert len(next(iter(seq.solvers_.values())).history) == 2


# ----------------------------------------------------------------------------- several right-hand sides
def test_several_right_hand_sides_share_the_setup():
    Bk = np.random.default_rng(1).standard_normal((N, 3))
    s = SequenceSolver(policy="fixed:direct", rtol=1e-10)
    X = s.solve(A, Bk)
    assert X.shape == (N, 3)
    for j in range(3):
        assert_contract(A, Bk[:, j], X[:, j], 1e-10)
    assert len(s.history) == 3
    assert [r.setup_reused for r in s.history] == [False, True, True]
    X2 = s.solve(A, Bk, x0=X)  # x0 of the block's shape
    np.testing.assert_allclose(X2, X, rtol=1e-8, atol=1e-12)
    with pytest.raises(InvalidSystemError, match="x0"):
        s.solve(A, Bk, x0=np.zeros(N))
    assert s.solve(A, Bk[:, :1]).shape == (N,)  # one column: a vector, as before


# ----------------------------------------------------------------------------- residual history
def test_residual_history_is_opt_in():
    s = SequenceSolver(policy="fixed:cg", rtol=1e-10)
    s.solve(A, B)
    assert s.history[-1].residuals is None and "residuals" not in s.history[-1].to_dict()
    s = SequenceSolver(policy="fixed:cg", rtol=1e-10, record_residuals=True)
    s.solve(A, B)
    res = s.history[-1].residuals
    assert len(res) == s.history[-1].iterations  # SciPy's CG reports every iterate
    assert res[-1] <= 1e-10 < res[0]
    s = SequenceSolver(policy="fixed:numba-cg", rtol=1e-10, record_residuals=True)
    s.solve(A, B)
    assert len(s.history[-1].residuals) >= 1 and s.history[-1].residuals[-1] <= 1e-10


# ----------------------------------------------------------------------------- logging
def test_logger_is_quiet_by_default(capsys):
    log = logging.getLogger("seqsolve")
    assert any(isinstance(h, logging.NullHandler) for h in log.handlers)
    SequenceSolver(policy="fixed:cg", maxiter=3).solve(A, B)
    out, err = capsys.readouterr()
    assert out == err == ""


def test_logging_reports_fallbacks_caps_and_explorations(caplog):
    with caplog.at_level(logging.INFO, logger="seqsolve"):
        SequenceSolver(policy="fixed:cg", maxiter=3).solve(sla.aslinearoperator(A), B)  # every fallback iterates
        s = SequenceSolver(policy="auto")
        for k in range(3):
            s.solve(A, B + k)
    text = caplog.text
    assert "fallback gmres after cg stopped (maxiter)" in text
    assert "maxiter=3 bounds each attempt" in text
    assert "exploring" in text


# ----------------------------------------------------------------------------- get_params / set_params
@pytest.mark.parametrize("policy", [AutoPolicy(), FixedPolicy("ssor-cg(omega=1.5)"), TsallisINFPolicy(seed=3),
                                    ChebCBPolicy(context_key="k", context_range=(1.0, 2.0))])
def test_get_params_rebuilds_an_equivalent_policy(policy):
    params = policy.get_params()
    clone = type(policy)(**params)
    assert clone.get_params() == params


def test_set_params_checks_and_keeps_learned_state():
    s = SequenceSolver(policy="auto")
    for k in range(3):
        s.solve(A, B + k)
    p = s.policy
    t = p.t_
    assert p.set_params(explore_cap=3.0, revalidate_after=16) is p
    assert p.get_params()["explore_cap"] == 3.0 and p.t_ == t
    with pytest.raises(ConfigurationError, match="no parameter"):
        p.set_params(speed=11)
    with pytest.raises(ConfigurationError, match="fixed when the policy is built"):
        p.set_params(seed=1)
    with pytest.raises(ConfigurationError, match="finite number"):
        p.set_params(discount="high")
    assert make_policy("fixed:cg").get_params() == {"configuration": "cg"}


def test_dcdm_without_torch_says_torch_is_missing(monkeypatch):
    import importlib.util

    pytest.importorskip("torch")  # the method is built with torch; only the message is under test
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ConfigurationError, match="PyTorch is not installed"):
        SequenceSolver(policy="fixed:dcdm").solve(A, B)
