"""The command line a newcomer meets: defaults, --json on every table, report, provenance in every
JSON written, output checked before solving, CLI syntax in hints, -v."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import seqsolve
from seqsolve import cli
from seqsolve.cli import main
from seqsolve.problems import Heat2D, save_sequence

from conftest import poisson2d, random_nonsymmetric

VERSION_KEYS = {"seqsolve", "python", "numpy", "scipy", "pyamg", "numba", "torch", "scikit-fem"}


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_provenance(block: dict, seed: int = 0) -> None:
    assert set(block["versions"]) == VERSION_KEYS
    assert block["versions"]["seqsolve"] == seqsolve.__version__
    assert block["seed"] == seed
    assert isinstance(block["command"], str) and block["command"]
    assert block["machine"]["cpus"] >= 1 and block["created"].endswith("Z")


@pytest.fixture
def sequence_dir(tmp_path):
    p = Heat2D(nx=8, steps=6, dt=0.05)
    systems = []
    for _ in range(6):
        s = p.system()
        systems.append(s)
        p.accept(s.b)
    save_sequence(tmp_path / "seq", systems)
    return tmp_path / "seq"


# ----------------------------------------------------------------------------- sequence + report
def test_sequence_defaults_to_auto_and_writes_provenance(capsys, sequence_dir, tmp_path):
    out_file = tmp_path / "history.json"
    rc, out, err = run_cli(capsys, "sequence", str(sequence_dir), "--no-progress", "--out", str(out_file),
                           "--seed", "3")
    assert rc == 0, err
    assert "capped explorations" in out and "real fallbacks" in out
    data = json.loads(out_file.read_text())
    assert data["summary"]["policy"] == "auto"  # the default, not SciPy's CG
    assert len(data["history"]) == 6
    assert_provenance(data["provenance"], seed=3)
    assert "sequence" in data["provenance"]["command"]


@pytest.mark.parametrize("spec, used", [(None, {"previous", "extrapolate", "projection"}),
                                        ("previous", {"previous"}), ("projection(k=4)", {"projection"})])
def test_sequence_takes_an_initial_guess(capsys, sequence_dir, tmp_path, spec, used):
    out_file = tmp_path / "history.json"
    extra = [] if spec is None else ["--initial-guess", spec]
    rc, out, err = run_cli(capsys, "sequence", str(sequence_dir), "--no-progress", "--out", str(out_file), *extra)
    assert rc == 0, err
    starts = {h["initial_guess"].split("(")[0] for h in json.loads(out_file.read_text())["history"][1:]}
    assert starts and starts <= used | {"unused"}  # (a factorisation forms no start)


def test_sequence_refuses_a_bad_initial_guess(capsys, sequence_dir):
    rc, out, err = run_cli(capsys, "sequence", str(sequence_dir), "--no-progress", "--initial-guess", "telepathy")
    assert rc != 0 and "telepathy" in err and "Traceback" not in err


def test_sequence_json(capsys, sequence_dir):
    rc, out, err = run_cli(capsys, "sequence", str(sequence_dir), "--json")
    assert rc == 0, err
    data = json.loads(out)  # stdout is pure JSON: no progress bar, no notes
    assert data["summary"]["solves"] == 6 and data["summary"]["policy"] == "auto"


def test_report_text_and_json(capsys, sequence_dir, tmp_path):
    history = tmp_path / "history.json"
    assert run_cli(capsys, "sequence", str(sequence_dir), "--no-progress", "--out", str(history))[0] == 0
    rc, out, err = run_cli(capsys, "report", str(history))
    assert rc == 0, err
    assert "seqsolve report" in out and "where the time went" in out
    rc, out, err = run_cli(capsys, "report", str(history), "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["summary"]["solves"] == 6
    assert set(data["time_by_role"]) == {"exploit", "explore", "fallback"}
    assert sum(seg["solves"] for seg in data["segments"]) <= 6
    assert data["configurations"]


def test_report_of_a_bad_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, out, err = run_cli(capsys, "report", str(bad), "--json")
    assert rc == 2 and err.startswith("seqsolve: error:") and out == ""


# ----------------------------------------------------------------------------- demo / bench
def test_demo_json_names_capped_explorations(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    rc, out, err = run_cli(capsys, "demo", "--nx", "10", "--steps", "30", "--policies", "numba-cg,auto",
                           "--out", str(out_dir), "--json", "--seed", "2")
    assert rc == 0, err
    data = json.loads(out)
    rows = {r["policy"]: r for r in data["rows"]}
    assert set(rows) == {"fixed:numba-cg", "auto"}
    for r in rows.values():
        assert r["capped_explorations"] + r["real_fallbacks"] == r["fallbacks"]
    assert "Heat2D" in err  # the header went to stderr
    written = json.loads((out_dir / "demo.json").read_text())
    assert_provenance(written["provenance"], seed=2)
    assert "demo" in written["provenance"]["command"]
    md = (out_dir / "demo.md").read_text()
    assert "capped explorations" in md and "real fallbacks" in md


def test_bench_json(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "bench", "heat2d", "--nx", "8", "--steps", "10", "--policies", "cg",
                           "--out", str(tmp_path), "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert [r["policy"] for r in data["rows"]] == ["fixed:cg"]
    assert any(f.endswith(".json") for f in data["files"])
    assert_provenance(json.loads((tmp_path / "heat2d_nx8_T10.json").read_text())["provenance"])


def test_demo_without_matplotlib_writes_table_and_json(capsys, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    rc, out, err = run_cli(capsys, "demo", "--nx", "8", "--steps", "5", "--policies", "cg", "--out", str(tmp_path),
                           "--no-progress")
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json", "demo.md"]
    assert "seqsolve[plot]" in err


# ----------------------------------------------------------------------------- configs / solve
def test_configs_json(capsys):
    rc, out, err = run_cli(capsys, "configs", "--json")
    assert rc == 0 and json.loads(out) == seqsolve.configs()
    rc, out, err = run_cli(capsys, "configs", "--kinds", "--json")
    kinds = {k["kind"]: k for k in json.loads(out)}
    assert kinds["user-cg"]["spd_only"] and "omega" in kinds["ssor-cg"]["parameters"]


@pytest.fixture
def system_files(tmp_path):
    A = poisson2d(5)
    scipy.io.mmwrite(str(tmp_path / "A.mtx"), sp.coo_matrix(A))
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), np.ones((A.shape[0], 1)))
    G = random_nonsymmetric(A.shape[0], seed=4)
    scipy.io.mmwrite(str(tmp_path / "G.mtx"), sp.coo_matrix(G))
    return tmp_path


def test_solve_json(capsys, system_files):
    d = system_files
    rc, out, err = run_cli(capsys, "solve", str(d / "A.mtx"), str(d / "b.mtx"), "--json", "--out", str(d / "x.mtx"))
    assert rc == 0, err
    data = json.loads(out)
    assert data["unknowns"] == 25 and data["record"]["converged"] and data["out"].endswith("x.mtx")
    assert (d / "x.mtx").exists()


def test_errors_use_command_line_syntax(capsys, system_files):
    d = system_files
    rc, out, err = run_cli(capsys, "solve", str(d / "G.mtx"), str(d / "b.mtx"), "--policy", "cg")
    assert rc == 2
    assert "--policy" in err and "policy='" not in err and "fixed:" not in err.split("use", 1)[-1]


# ----------------------------------------------------------------------------- checked before solving
def test_outputs_are_checked_before_any_solve(capsys, sequence_dir, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("solving started before the output was checked")

    monkeypatch.setattr("seqsolve.runner.run", boom)
    monkeypatch.setattr("seqsolve.bench.benchmark", boom)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for argv in (["sequence", str(sequence_dir), "--out", str(tmp_path / "missing" / "h.json")],
                 ["demo", "--out", str(a_file)],
                 ["bench", "heat2d", "--policies", "cg", "--out", str(a_file)]):
        rc, out, err = run_cli(capsys, *argv)
        assert rc == 2 and err.startswith("seqsolve: error:"), (argv, err)


# ----------------------------------------------------------------------------- -v
@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_to_stderr(capsys, sequence_dir, where):
    argv = ["sequence", str(sequence_dir), "--no-progress"]
    argv = ["-v", *argv] if where == "before" else [*argv, "-v"]
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0
    assert "seqsolve INFO: system 0: exploring" in err
    rc, out, err = run_cli(capsys, "sequence", str(sequence_dir), "--no-progress")
    assert "INFO" not in err  # the handler is removed again
