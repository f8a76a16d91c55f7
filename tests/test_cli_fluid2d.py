"""CLI tests for the Fluid2D workload: ``seqsolve demo --problem fluid2d`` and ``seqsolve bench fluid2d``.

Fast: n=16, a few steps.  The DCDM model is either absent (the demo skips ``dcdm`` with a note)
or a tiny untrained network saved in the test and named by ``$SEQSOLVE_DCDM_MODEL``; the
packaged models are hidden so the results do not depend on what is installed.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from seqsolve.cli import FLUID_DEMO_POLICIES, dcdm_unavailable, main

PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """No packaged model and no $SEQSOLVE_DCDM_MODEL."""
    configs = importlib.import_module("seqsolve.configs")
    dcdm = importlib.import_module("seqsolve.neural.dcdm")
    monkeypatch.delenv("SEQSOLVE_DCDM_MODEL", raising=False)
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setattr(dcdm, "MODEL_DIR", str(empty))
    monkeypatch.setattr(configs, "neural_model_available", lambda: False)


@pytest.fixture
def tiny_model(monkeypatch, tmp_path):
    """An untrained n=16 DCDM network saved to a file named by $SEQSOLVE_DCDM_MODEL."""
    torch = pytest.importorskip("torch")
    from seqsolve.neural.model import DCDMNet
    from seqsolve.neural.model_io import save_model

    before = torch.get_num_threads()
    torch.manual_seed(0)
    path = tmp_path / "models" / "tiny16.sqnn"
    save_model(DCDMNet(16, width=4, levels=1, bottom_blocks=1), path, {"note": "untrained, for tests"})
    dcdm = importlib.import_module("seqsolve.neural.dcdm")
    empty = tmp_path / "no-packaged-models"
    empty.mkdir()
    monkeypatch.setattr(dcdm, "MODEL_DIR", str(empty))
    monkeypatch.setenv("SEQSOLVE_DCDM_MODEL", str(path))
    yield path
    torch.set_num_threads(before)  # the CLI pins torch to one thread


def outputs(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def check_bench_json(path: Path, n: int, steps: int, policies: list[str], rtol: float = 1e-8) -> dict:
    data = json.loads(path.read_text())
    assert data["problem"]["name"] == "fluid2d"
    assert data["problem"]["n"] == n and data["problem"]["steps"] == steps
    assert sorted(r["policy"] for r in data["rows"]) == sorted(policies)
    assert data["errors"] == {}
    for row in data["rows"]:
        assert row["max_residual"] <= rtol
        assert len(data["iterations"][row["policy"]]) == steps
    return data


# ----------------------------------------------------------------------------- demo
def test_demo_fluid2d_without_model_skips_dcdm(capsys, tmp_path, no_model):
    out_dir = tmp_path / "demo"
    rc, out, err = run_cli(capsys, "demo", "--problem", "fluid2d", "--n", "16", "--steps", "4",
                           "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    assert "Fluid2D" in out and "n=16" in out
    assert "skipping dcdm" in out
    assert "no packaged DCDM model" in out or "PyTorch is not installed" in out  # the latter without torch
    assert outputs(out_dir) == ["demo.json", "demo.md", "demo.png", "demo_flow.png"]
    expected = [p if p == "auto" else f"fixed:{p}" for p in FLUID_DEMO_POLICIES if p != "dcdm"]
    check_bench_json(out_dir / "demo.json", 16, 4, expected)
    for name in ("demo.png", "demo_flow.png"):
        assert (out_dir / name).read_bytes()[:8] == PNG
    md = (out_dir / "demo.md").read_text()
    assert "fixed:numba-cg" in md and "auto" in md and "dcdm" not in md


def test_demo_fluid2d_with_a_model_runs_dcdm(capsys, tmp_path, tiny_model):
    out_dir = tmp_path / "demo"
    rc, out, err = run_cli(capsys, "demo", "--problem", "fluid2d", "--n", "16", "--steps", "3",
                           "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    assert "skipping dcdm" not in out and str(tiny_model) in out
    assert outputs(out_dir) == ["demo.json", "demo.md", "demo.png", "demo_flow.png"]
    expected = [p if p == "auto" else f"fixed:{p}" for p in FLUID_DEMO_POLICIES]
    data = check_bench_json(out_dir / "demo.json", 16, 3, expected)
    # an untrained network may fail; the fallback repairs it, and the record says so
    assert set(data["configurations"]["fixed:dcdm"]) == {"dcdm"}
    assert "fixed:dcdm" in (out_dir / "demo.md").read_text()


def test_demo_fluid2d_skips_a_model_of_another_size(capsys, tmp_path, tiny_model):
    rc, out, err = run_cli(capsys, "demo", "--problem", "fluid2d", "--n", "20", "--steps", "2",
                           "--policies", "numba-cg", "--out", str(tmp_path / "d"), "--no-progress")
    assert rc == 0, err  # explicit policies: no dcdm asked for, none run
    assert dcdm_unavailable(20) is not None and "trained for n=16" in dcdm_unavailable(20)
    assert dcdm_unavailable(16) is None


def test_demo_default_problem_is_still_heat2d(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    rc, out, err = run_cli(capsys, "demo", "--nx", "8", "--steps", "3", "--policies", "cg",
                           "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    assert "Heat2D" in out
    assert outputs(out_dir) == ["demo.json", "demo.md", "demo.png"]
    data = json.loads((out_dir / "demo.json").read_text())
    assert data["problem"]["nx"] == 8 and data["problem"]["steps"] == 3


# ----------------------------------------------------------------------------- bench
def test_bench_fluid2d_writes_table_json_plot_and_frame(capsys, tmp_path, no_model):
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(capsys, "bench", "fluid2d", "--n", "16", "--steps", "6", "--move-every", "3",
                           "--policies", "numba-cg,amg-cg(reuse),tsallis-inf", "--rtol", "1e-7",
                           "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    stem = "fluid2d_n16_T6"
    assert outputs(out_dir) == [f"{stem}.json", f"{stem}.md", f"{stem}.png", f"{stem}_flow.png"]
    data = check_bench_json(out_dir / f"{stem}.json", 16, 6,
                            ["fixed:numba-cg", "fixed:amg-cg(reuse)", "tsallis-inf"], rtol=1e-7)
    assert data["problem"]["move_every"] == 3 and data["problem"]["obstacles"] == "default"
    assert data["rtol"] == 1e-7
    assert (out_dir / f"{stem}_flow.png").read_bytes()[:8] == PNG
    assert "fixed:amg-cg(reuse)" in out


def test_bench_fluid2d_with_dcdm(capsys, tmp_path, tiny_model):
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(capsys, "bench", "fluid2d", "--n", "16", "--steps", "3", "--obstacles", "disc",
                           "--policies", "dcdm,dcdm(fcg)", "--out", str(out_dir), "--no-progress")
    assert rc == 0, err
    data = check_bench_json(out_dir / "fluid2d_n16_T3.json", 16, 3, ["fixed:dcdm", "fixed:dcdm(fcg)"])
    assert data["problem"]["obstacles"] == "disc"


def test_bench_fluid2d_dcdm_without_model_is_one_error_line(capsys, tmp_path, no_model):
    rc, out, err = run_cli(capsys, "bench", "fluid2d", "--n", "16", "--steps", "2", "--policies", "cg,dcdm",
                           "--out", str(tmp_path / "out"), "--no-progress")
    assert rc == 2
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("seqsolve: error:") and "dcdm" in lines[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["bench", "fluid2d", "--n", "x", "--policies", "cg"],
                                  ["bench", "fluid2d", "--policies", "cg", "--obstacles", "teapot"],
                                  ["demo", "--problem", "navier-stokes"]])
def test_bad_fluid2d_usage_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_bench_fluid2d_bad_size_is_one_error_line(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "bench", "fluid2d", "--n", "4", "--steps", "2", "--policies", "cg",
                           "--out", str(tmp_path / "out"), "--no-progress")
    assert rc == 2 and err.startswith("seqsolve: error:") and "n must be >= 8" in err, (out, err)


def test_help_mentions_fluid2d(capsys):
    for sub in ("demo", "bench"):
        with pytest.raises(SystemExit) as info:
            main([sub, "--help"])
        assert info.value.code == 0
        assert "fluid2d" in capsys.readouterr().out
