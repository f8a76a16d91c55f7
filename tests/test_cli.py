"""CLI smoke tests, in-process through ``seqsolve.cli.main`` (plus one ``python -m seqsolve``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import seqsolve
from seqsolve.cli import main
from seqsolve.problems import Heat2D, save_sequence

from conftest import assert_contract, poisson2d, random_nonsymmetric, reference_solve

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["demo", "bench", "solve", "sequence", "configs"]


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc, err):
    assert rc == 2
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("seqsolve: error:"), err


@pytest.fixture
def system_files(tmp_path):
    A = poisson2d(6)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    scipy.io.mmwrite(str(tmp_path / "A.mtx"), sp.coo_matrix(A))
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), b.reshape(-1, 1))
    return tmp_path, A, b


# ----------------------------------------------------------------------------- configs
def test_configs(capsys):
    rc, out, err = run_cli(capsys, "configs")
    assert rc == 0
    assert out.split() == seqsolve.configs()
    for name in ("cg", "ssor-cg(omega=1.6)", "amg-cg(reuse)", "gmres(ilu)"):
        assert name in out.split()


def test_configs_kinds(capsys):
    rc, out, err = run_cli(capsys, "configs", "--kinds")
    assert rc == 0
    from seqsolve.configs import KINDS

    listed = [line.split()[0] for line in out.strip().splitlines()]
    assert listed == list(KINDS)
    assert "SPD only" in out and "omega" in out


# ----------------------------------------------------------------------------- solve
@pytest.mark.parametrize("policy", [None, "cg", "fixed:ssor-cg(omega=1.5)", "direct"])
def test_solve_writes_x(capsys, system_files, policy):
    d, A, b = system_files
    out_path = d / "x.mtx"
    extra = ["--policy", policy] if policy else []
    rc, out, err = run_cli(capsys, "solve", str(d / "A.mtx"), str(d / "b.mtx"), "--out", str(out_path),
                           "--rtol", "1e-10", *extra)
    assert rc == 0, err
    assert "relative residual" in out
    x = np.asarray(scipy.io.mmread(str(out_path))).ravel()
    assert_contract(A, b, x, 1e-10)
    np.testing.assert_allclose(x, reference_solve(A, b), rtol=1e-7, atol=1e-12)
    assert sorted(p.name for p in d.iterdir()) == ["A.mtx", "b.mtx", "x.mtx"]  # no temp files left


def test_solve_nonsymmetric(capsys, tmp_path):
    A = random_nonsymmetric(30, seed=1)
    b = np.ones(30)
    scipy.io.mmwrite(str(tmp_path / "A.mtx"), sp.coo_matrix(A))
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), b.reshape(-1, 1))
    rc, out, err = run_cli(capsys, "solve", str(tmp_path / "A.mtx"), str(tmp_path / "b.mtx"),
                           "--out", str(tmp_path / "x.mtx"), "--policy", "gmres(ilu)")
    assert rc == 0, err
    assert "gmres(ilu)" in out
    assert_contract(A, b, np.asarray(scipy.io.mmread(str(tmp_path / "x.mtx"))).ravel(), 1e-8)


@pytest.mark.parametrize("content", ["not a matrix market file\n", "", "%%MatrixMarket matrix coordinate real general\n"])
def test_solve_bad_file(capsys, system_files, content):
    d, _, _ = system_files
    (d / "bad.mtx").write_text(content)
    rc, out, err = run_cli(capsys, "solve", str(d / "bad.mtx"), str(d / "b.mtx"))
    assert_one_error_line(rc, err)
    assert "bad.mtx" in err
    rc, out, err = run_cli(capsys, "solve", str(d / "A.mtx"), str(d / "bad.mtx"))
    assert_one_error_line(rc, err)


def test_solve_errors_are_one_line(capsys, system_files, tmp_path):
    d, _, _ = system_files
    A, b = str(d / "A.mtx"), str(d / "b.mtx")
    scipy.io.mmwrite(str(d / "short.mtx"), np.ones((5, 1)))
    for argv, fragment in [
        (["solve", str(d / "missing.mtx"), b], "missing.mtx"),
        (["solve", A, b, "--policy", "nonsense"], "nonsense"),
        (["solve", A, b, "--rtol", "-1"], "rtol"),
        (["solve", A, b, "--out", str(tmp_path / "no" / "such" / "dir" / "x.mtx")], "x.mtx"),
        (["solve", A, A], "vector"),
        (["solve", A, str(d / "short.mtx")], "length"),
    ]:
        rc, out, err = run_cli(capsys, *argv)
        assert_one_error_line(rc, err)
        assert fragment in err, (argv, err)


def test_spd_only_policy_on_nonsymmetric_file(capsys, tmp_path):
    A = random_nonsymmetric(20, seed=2)
    scipy.io.mmwrite(str(tmp_path / "A.mtx"), sp.coo_matrix(A))
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), np.ones((20, 1)))
    rc, out, err = run_cli(capsys, "solve", str(tmp_path / "A.mtx"), str(tmp_path / "b.mtx"), "--policy", "cg")
    assert_one_error_line(rc, err)
    assert "symmetric" in err


def _singular_files(d):
    S = sp.csr_array(sp.diags_array([1.0, 2.0, 0.0]))  # singular, b outside the range
    scipy.io.mmwrite(str(d / "S.mtx"), sp.coo_matrix(S))
    scipy.io.mmwrite(str(d / "s.mtx"), np.ones((3, 1)))
    return str(d / "S.mtx"), str(d / "s.mtx")


@pytest.mark.parametrize("policy", ["auto", "cg", "gmres", "bicgstab", "direct", "amg-cg(rebuild)"])
def test_unsolvable_system_is_one_error_line(capsys, tmp_path, policy):
    S, s = _singular_files(tmp_path)
    rc, out, err = run_cli(capsys, "solve", S, s, "--policy", policy)
    assert_one_error_line(rc, err)
    assert "tolerance" in err


def test_unsolvable_system_stderr_end_to_end(tmp_path):
    """The whole stderr of the real command: one line, no RuntimeWarnings from inside SciPy."""
    S, s = _singular_files(tmp_path)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "seqsolve", "solve", S, s, "--policy", "cg"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip("\n").split("\n")) == 1, proc.stderr
    assert proc.stderr.startswith("seqsolve: error:")


# ----------------------------------------------------------------------------- sequence
def test_sequence(capsys, tmp_path):
    p = Heat2D(nx=5, steps=4, dt=0.05)
    systems = []
    for _ in range(4):
        s = p.system()
        systems.append(s)
        p.accept(reference_solve(s.A, s.b))
    save_sequence(tmp_path / "seq", systems)
    summary = tmp_path / "summary.json"
    rc, out, err = run_cli(capsys, "sequence", str(tmp_path / "seq"), "--policy", "ssor-cg(omega=1.5)",
                           "--no-progress", "--out", str(summary))
    assert rc == 0, err
    assert "4 systems" in out
    assert "ssor-cg(omega=1.5)" in out
    data = json.loads(summary.read_text())
    assert data["summary"]["solves"] == 4
    assert len(data["history"]) == 4
    assert all(h["converged"] and h["residual"] <= 1e-8 for h in data["history"])
    assert [h["context"]["c"] for h in data["history"]] == pytest.approx([s.context["c"] for s in systems])


def test_sequence_bad_directory(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "sequence", str(tmp_path / "nope"), "--no-progress")
    assert_one_error_line(rc, err)
    (tmp_path / "empty").mkdir()
    rc, out, err = run_cli(capsys, "sequence", str(tmp_path / "empty"), "--no-progress")
    assert_one_error_line(rc, err)
    assert "b_0000" in err


def test_sequence_corrupt_step(capsys, tmp_path):
    d = tmp_path / "seq"
    save_sequence(d, [(poisson2d(3), np.ones(9)), (poisson2d(3), np.ones(9))])
    (d / "b_0001.mtx").write_text("garbage\n")
    rc, out, err = run_cli(capsys, "sequence", str(d), "--no-progress")
    assert_one_error_line(rc, err)
    assert "b_0001.mtx" in err


# ----------------------------------------------------------------------------- bench and demo
def test_bench_writes_json_png_md(capsys, tmp_path):
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(capsys, "bench", "heat2d", "--nx", "12", "--steps", "20",
                           "--policies", "cg,ssor-cg(omega=1.5)", "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    stem = "heat2d_nx12_T20"
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == [f"{stem}.json", f"{stem}.md", f"{stem}.png"], files
    data = json.loads((out_dir / f"{stem}.json").read_text())
    policies = [r["policy"] for r in data["rows"]]
    assert sorted(policies) == ["fixed:cg", "fixed:ssor-cg(omega=1.5)"]
    assert data["errors"] == {}
    assert data["problem"]["nx"] == 12 and data["problem"]["steps"] == 20
    for p in policies:
        assert len(data["iterations"][p]) == 20
        assert len(data["cumulative_seconds"][p]) == 20
        assert set(data["configurations"][p]) == {p.partition(":")[2]}
    for row in data["rows"]:
        assert row["max_residual"] <= 1e-8
        assert row["total_iterations"] == sum(data["iterations"][row["policy"]])
        assert row["fallbacks"] == 0
    md = (out_dir / f"{stem}.md").read_text()
    assert "fixed:cg" in md and "fixed:ssor-cg(omega=1.5)" in md
    assert (out_dir / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fixed:cg" in out  # the table is printed too


def test_bench_unknown_policy(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "bench", "heat2d", "--nx", "5", "--steps", "2", "--policies", "cg,warp-drive",
                           "--out", str(tmp_path), "--no-progress")
    assert_one_error_line(rc, err)
    assert "warp-drive" in err


def test_demo(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    rc, out, err = run_cli(capsys, "demo", "--nx", "10", "--steps", "10", "--policies", "cg", "--out", str(out_dir),
                           "--no-progress")
    assert rc == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["demo.json", "demo.md", "demo.png"]
    data = json.loads((out_dir / "demo.json").read_text())
    assert [r["policy"] for r in data["rows"]] == ["fixed:cg"]
    assert data["problem"]["nx"] == 10 and data["problem"]["steps"] == 10
    assert "Heat2D" in out


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help_exits_0(capsys, sub):
    with pytest.raises(SystemExit) as info:
        main([sub, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and sub in out


def test_top_level_help_and_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for sub in SUBCOMMANDS:
        assert sub in out
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert seqsolve.__version__ in capsys.readouterr().out


def test_bad_usage_exits_2(capsys):
    for argv in ([], ["frobnicate"], ["solve"], ["bench", "heat2d"], ["bench", "heat2d", "--nx", "x", "--policies", "cg"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "usage:" in capsys.readouterr().err


def test_python_dash_m_help():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "seqsolve", "--help"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: seqsolve" in proc.stdout
    for sub in SUBCOMMANDS:
        assert sub in proc.stdout
