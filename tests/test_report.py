"""solver.report(): where the time went, configurations along the sequence, why attempts stopped."""

from __future__ import annotations

import json

import pytest

import seqsolve
from seqsolve.errors import InvalidSystemError
from seqsolve.problems import Heat2D
from seqsolve.records import SolveRecord
from seqsolve.report import history_from_dicts, report, segments, summary_by_role


def _rec(i, name, seconds=1e-3, *, explored=False, fallback=None, projected=None):
    return SolveRecord(index=i, configuration=name, iterations=10, setup_seconds=0.0, solve_seconds=seconds,
                       residual=1e-9, converged=True, fallback=fallback, attempt_seconds=seconds,
                       projected_seconds=projected, explored=explored)


def test_time_is_split_into_exploiting_exploring_and_fallbacks():
    h = [_rec(0, "a", 1.0), _rec(1, "b", 2.0, explored=True), _rec(2, "a", 4.0, fallback="direct")]
    roles = summary_by_role(h)
    assert roles["exploit"] == {"solves": 1, "seconds": 1.0}
    assert roles["explore"] == {"solves": 1, "seconds": 2.0}
    assert roles["fallback"] == {"solves": 1, "seconds": 4.0}


def test_segments_follow_the_exploited_configuration_and_ignore_explorations():
    h = [_rec(i, "cg") for i in range(5)] + [_rec(5, "sor", explored=True)] + [_rec(i, "cg") for i in range(6, 9)]
    h += [_rec(i, "ssor") for i in range(9, 20)]
    assert segments(h) == [(0, 8, "cg", 8), (9, 19, "ssor", 11)]


def test_report_names_stopped_attempts_and_their_projection():
    h = [_rec(0, "cg"), _rec(1, "sor(omega=1.5)", explored=True, fallback="cg", projected=2.5)]
    text = report(h)
    assert "sor(omega=1.5)" in text and "2500.000" in text and "fallback `cg`" in text


def test_solver_report_on_a_real_sequence_adds_up():
    s = seqsolve.SequenceSolver(policy="auto")
    seqsolve.run(Heat2D(nx=16, steps=60), s, progress=False)
    text = s.report()
    roles = summary_by_role(s.history)
    assert sum(v["solves"] for v in roles.values()) == 60
    assert sum(v["seconds"] for v in roles.values()) == pytest.approx(sum(r.seconds for r in s.history))
    assert "## Along the sequence" in text
    assert any(r.explored for r in s.history)  # auto explored, and the report can say so


def test_history_round_trips_through_json_and_bad_rows_are_seqsolve_errors():
    s = seqsolve.SequenceSolver(policy="auto")
    seqsolve.run(Heat2D(nx=16, steps=10), s, progress=False)
    rows = json.loads(json.dumps([r.to_dict() for r in s.history]))
    assert history_from_dicts(rows) == s.history
    s = seqsolve.SequenceSolver(policy="auto", record_residuals=True)  # the residual histories too
    seqsolve.run(Heat2D(nx=16, steps=4), s, progress=False)
    assert history_from_dicts(json.loads(json.dumps([r.to_dict() for r in s.history]))) == s.history
    for bad in ({"x": 1}, [1, 2], [{"index": "zero"}], [{"index": 0, "configuration": "cg", "iterations": 10**400}],
                [{**rows[0], "context": {"c": "hot"}}], [{**rows[0], "residuals": "many"}],
                [{**rows[0], "residuals": ["x"]}]):
        with pytest.raises(InvalidSystemError):
            history_from_dicts(bad)


def test_cli_report_reads_a_saved_history_and_refuses_bad_files(tmp_path, capsys):
    from seqsolve.cli import main
    from seqsolve.problems.matrix_market import save_sequence

    problem = Heat2D(nx=8, steps=12)
    systems = []
    for _ in range(12):
        s = problem.system()
        systems.append(s)
        problem.accept(seqsolve.solve(s.A, s.b))
    save_sequence(tmp_path / "seq", systems)
    assert main(["sequence", str(tmp_path / "seq"), "--out", str(tmp_path / "h.json"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "h.json")]) == 0
    out = capsys.readouterr().out
    assert "12 systems" in out and "## Along the sequence" in out
    (tmp_path / "bad.json").write_text('{"history": [{"index": "x"}]}')
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.startswith("seqsolve: error:")
