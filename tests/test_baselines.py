"""Hindsight baselines (seqsolve.baselines), their CLI hook, and a smoke run of the Heat2D study script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from seqsolve import ConfigurationError, SequenceSolver, run
from seqsolve.baselines import (best_fixed, fixed_runs, instance_optimal, instance_optimal_run, omega_configurations,
                                omega_sweep, split_baselines)
from seqsolve.cli import main
from seqsolve.problems import Heat2D
from seqsolve.solvers.compiled import pcg

REPO = Path(__file__).resolve().parents[1]
OMEGAS = [1.0, 1.5, 1.9]


def small(steps: int = 25) -> Heat2D:
    return Heat2D(nx=10, steps=steps, dt=0.04)  # t reaches 1.0: both diffusion regimes


@pytest.fixture(scope="module")
def io_direct():
    return instance_optimal(small(), omega_configurations(OMEGAS), reference="direct")


def test_instance_optimal_per_step_argmin_and_totals(io_direct):
    io = io_direct
    names = io["configurations"]
    assert names == [f"numba-ssor-cg(omega={w:g})" for w in OMEGAS]
    its = np.array([io["iterations"][n] for n in names])
    secs = np.array([io["seconds"][n] for n in names])
    assert its.shape == (3, 25) and np.all(np.array([io["converged"][n] for n in names]))
    assert io["iterations_min"] == its.min(axis=0).tolist()
    assert io["seconds_min"] == secs.min(axis=0).tolist()
    assert [its[names.index(n), t] for t, n in enumerate(io["best_by_iterations"])] == io["iterations_min"]
    assert io["total_iterations"] == its.min(axis=0).sum()
    assert io["total_seconds"] == pytest.approx(secs.min(axis=0).sum())
    for k, n in enumerate(names):
        assert io["totals_by_configuration"][n]["total_iterations"] == its[k].sum()
        assert io["total_iterations"] <= its[k].sum()
    assert io["unsolved_steps"] == []
    json.dumps(io)  # JSON-ready


def test_instance_optimal_starts_from_previous_reference_and_advances_with_it(io_direct):
    """Recompute the iteration counts independently: splu trajectory, compiled PCG from it."""
    p = small()
    p.reset()
    x_prev = p.state.copy()
    for t in range(p.steps):
        s = p.system()
        for w in OMEGAS:
            r = pcg(s.A, s.b, x_prev, rtol=1e-8, preconditioner="ssor", omega=w)
            assert r.iterations == io_direct["iterations"][f"numba-ssor-cg(omega={w:g})"][t], (t, w)
        x_prev = splu(sp.csc_matrix(s.A)).solve(s.b)
        p.accept(x_prev)


def test_instance_optimal_tight_reference_matches_direct(io_direct):
    io = instance_optimal(small(), omega_configurations(OMEGAS), reference="tight")
    assert io["reference"] == "tight"
    a, b = np.array(io["iterations_min"]), np.array(io_direct["iterations_min"])
    assert np.abs(a - b).max() <= 1


def test_instance_optimal_records_unsolvable_steps():
    # 2 iterations are not enough for any ω on the later steps: those steps are flagged, not dropped
    io = instance_optimal(small(10), omega_configurations(OMEGAS), maxiter=2)
    assert io["unsolved_steps"]
    assert len(io["iterations_min"]) == 10
    assert all(io["totals_by_configuration"][n]["failures"] > 0 for n in io["configurations"])


def test_instance_optimal_bad_arguments():
    with pytest.raises(ConfigurationError):
        instance_optimal(small(2), [])
    with pytest.raises(ConfigurationError):
        instance_optimal(small(2), ["cg"], reference="psychic")
    with pytest.raises(ConfigurationError):
        instance_optimal(small(2), ["warp-drive"])


def test_instance_optimal_run_replays_the_argmin(io_direct):
    r = instance_optimal_run(io_direct)
    s = r.summary()
    assert s["total_iterations"] == io_direct["total_iterations"]
    assert s["solves"] == 25 and r.extra["synthetic"]
    r2 = instance_optimal_run(io_direct, by="seconds")
    assert r2.summary()["total_seconds"] == pytest.approx(io_direct["total_seconds"])


def test_omega_sweep_matches_independent_fixed_runs():
    sweep = omega_sweep(small, OMEGAS, keep_runs=True)
    assert sweep["omegas"] == OMEGAS
    for w, its in zip(OMEGAS, sweep["iterations"]):
        r = run(small(), SequenceSolver(policy=f"fixed:numba-ssor-cg(omega={w})"), progress=False)
        assert its == [h.iterations for h in r.history]
    totals = {n: sum(its) for n, its in zip(sweep["configurations"], sweep["iterations"])}
    best = min(totals, key=totals.get)
    assert sweep["best_by_iterations"] == [best, totals[best]]
    assert set(sweep["runs"]) == set(sweep["configurations"])
    json.dumps({k: v for k, v in sweep.items() if k != "runs"})


def test_best_fixed_accepts_totals_sequences_runs_and_summaries():
    assert best_fixed({"a": 10, "b": 7.5, "c": 9}) == ("b", 7.5)
    assert best_fixed({"a": [1, 2, 3], "b": [4, 4]}) == ("a", 6.0)
    assert best_fixed({"a": {"total_iterations": 5}, "b": {"total_iterations": 3}}) == ("b", 3.0)
    assert best_fixed({"a": 2, "b": 2}) == ("a", 2.0)  # ties: by name
    assert best_fixed({"a": 5, "bad": "RuntimeError: x", "none": None, "inf": float("inf")}) == ("a", 5.0)
    with pytest.raises(ValueError):
        best_fixed({})
    with pytest.raises(ValueError):
        best_fixed({"a": 1}, by="joules")


def test_fixed_runs_prune_and_best_fixed_skip_pruned():
    runs = fixed_runs(small, ["numba-ssor-cg(omega=1.5)", "direct"], prune=True)
    assert "aborted_at" not in runs["numba-ssor-cg(omega=1.5)"].extra
    # whichever is slower may be pruned; pruned runs never win
    name, total = best_fixed(runs, by="seconds")
    assert "aborted_at" not in runs[name].extra
    runs = fixed_runs(small, ["direct"], prune=True, prune_above=0.0)
    assert runs["direct"].extra["aborted_at"] == 1
    with pytest.raises(ValueError):
        best_fixed(runs)


def test_split_baselines():
    assert split_baselines(["cg", "best-fixed", "auto", "instance-optimal", "best-fixed"]) == (
        ["cg", "auto"], ["best-fixed", "instance-optimal"])


def test_cli_bench_accepts_baseline_pseudo_policies(capsys, tmp_path):
    rc = main(["bench", "heat2d", "--nx", "8", "--steps", "12", "--policies", "cg,best-fixed,instance-optimal",
               "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| instance-optimal |" in out and "| best-fixed:numba-ssor-cg(omega=" in out
    data = json.loads((tmp_path / "heat2d_nx8_T12.json").read_text())
    assert {r["policy"] for r in data["rows"]} >= {"fixed:cg", "instance-optimal"}
    assert len(data["rows"]) == 3


def test_heat2d_policies_script_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("heat2d_policies", REPO / "benchmarks" / "heat2d_policies.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--nx", "8", "--steps", "20", "--seeds", "0,1", "--out", str(tmp_path), "--no-progress",
                     "--hindsight", "direct"]) == 0
    out = capsys.readouterr().out
    for row in ("| CG |", "| best fixed ω", "| instance-optimal ω", "| Tsallis-INF (2 seeds)", "| ChebCB", "| auto (run 1)",
                "| auto (run 2"):
        assert row in out, row
    data = json.loads((tmp_path / "heat2d_policies_T20.json").read_text())
    rec = data["nx"]["8"]
    assert len(rec["sweep"]["iterations"]) == 20 and len(rec["actions"]["chebcb"]["1"]) == 20
    for f in ("heat2d_policies_T20.md", "heat2d_policies_T20_cost.png", "heat2d_policies_nx8_T20_omega.png",
              "heat2d_policies_nx8_T20_auto_state.json"):
        assert (tmp_path / f).stat().st_size > 0, f
