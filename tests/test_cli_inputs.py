"""Issue 7 (reliability): whatever files the command line is given, it answers in one line.

Matrix Market and context files are untrusted input: any bytes give a correct matrix or an
InvalidSystemError, declared sizes are checked against the file and a memory limit before
anything is allocated, and output folders are checked before any work is done.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqsolve import InvalidSystemError
from seqsolve.cli import main
from seqsolve.problems import MatrixMarketSequence
from seqsolve.problems import matrix_market as mm
from seqsolve.problems.matrix_market import read_context, read_matrix, read_vector

BANNER = "%%MatrixMarket matrix {} {} {}\n"


def write(path, text: str | bytes):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc, err, *fragments):
    assert rc == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("seqsolve: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)


@pytest.fixture
def system_files(tmp_path):
    n = 8
    A = sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="coo")
    scipy.io.mmwrite(str(tmp_path / "A.mtx"), A)
    scipy.io.mmwrite(str(tmp_path / "b.mtx"), np.arange(1.0, n + 1).reshape(-1, 1))
    return tmp_path / "A.mtx", tmp_path / "b.mtx"


@pytest.fixture
def no_scipy_reader(monkeypatch):
    """Fail if SciPy's mmread runs: the checks must come first (and it crashes on bad files)."""
    def forbidden(*args, **kwargs):
        raise AssertionError("scipy.io.mmread was called")

    monkeypatch.setattr(scipy.io, "mmread", forbidden)


# ----------------------------------------------------------------------------------- sizes first
def test_huge_declared_matrix_is_refused_before_allocating(tmp_path, capsys, system_files, no_scipy_reader):
    path = write(tmp_path / "huge.mtx", BANNER.format("coordinate", "real", "general")
                 + "1000000000 1000000000 1\n1 1 1.0\n")
    with pytest.raises(InvalidSystemError, match="GiB limit"):
        read_matrix(path)
    rc, out, err = run_cli(capsys, "solve", path, system_files[1])
    assert_one_error_line(rc, err, "huge.mtx", "GiB")


@pytest.mark.parametrize("header", [
    ("coordinate", "real", "general", "10 10 100000000\n1 1 1.0\n"),
    ("coordinate", "pattern", "symmetric", "5 5 1000\n1 1\n"),
    ("array", "real", "general", "100000 100000\n1.0\n"),
    ("array", "real", "symmetric", "3000 3000\n1.0\n"),
], ids=["coordinate", "pattern", "dense", "dense-symmetric"])
def test_declared_entries_must_fit_in_the_file(tmp_path, no_scipy_reader, header):
    *kind, rest = header
    path = write(tmp_path / "m.mtx", BANNER.format(*kind) + rest)
    with pytest.raises(InvalidSystemError, match="more than its .* bytes can hold"):
        read_matrix(path)


def test_memory_limit_can_be_set_by_environment(tmp_path, monkeypatch, system_files):
    A, _ = system_files
    assert read_matrix(A).shape == (8, 8)
    monkeypatch.setenv(mm.MAX_BYTES_ENV, "100")
    with pytest.raises(InvalidSystemError, match=mm.MAX_BYTES_ENV):
        read_matrix(A)


def test_compressed_and_special_files_are_refused(tmp_path):
    gz = write(tmp_path / "A.mtx.gz", b"\x1f\x8b\x08\x00")
    with pytest.raises(InvalidSystemError, match="compressed"):
        read_matrix(gz)
    fifo = tmp_path / "fifo.mtx"
    os.mkfifo(fifo)
    with pytest.raises(InvalidSystemError, match="not a regular file"):
        read_matrix(fifo)
    with pytest.raises(InvalidSystemError, match="not a regular file"):
        read_matrix(tmp_path)


# ----------------------------------------------------------------------------------- any bytes
#: files that crash SciPy 1.17's reader (SIGFPE, SIGSEGV, heap corruption) or that it misreads
CRASHERS = {
    "empty-array": BANNER.format("array", "real", "general") + "0 3\n",
    "nonsquare-symmetric": BANNER.format("array", "real", "symmetric") + "2 3\n6\n2\n1\n",
    "nonsquare-skew": BANNER.format("array", "integer", "skew-symmetric") + "3 4\n6 1\n3 2 0\n",
    "extra-values": BANNER.format("array", "real", "general") + "2 3\n1 2 3 4\n5 6 7\n",
    "trailing-blank": BANNER.format("coordinate", "real", "general") + "2 2 1\n1 2 0 ",
    "trailing-blank-skew": BANNER.format("coordinate", "real", "skew-symmetric") + "2 2 4\n1 2 0 ",
    "double-field": BANNER.format("coordinate", "double", "general") + "3 5 1\n1 5 4 5",
}


@pytest.mark.parametrize("name", list(CRASHERS))
def test_files_that_crash_scipy_give_invalid_system_error_or_the_right_matrix(tmp_path, name):
    path = write(tmp_path / f"{name}.mtx", CRASHERS[name])
    for reader in (read_matrix, read_vector):
        try:
            M = reader(path)
        except InvalidSystemError:
            continue
        assert name == "trailing-blank" and reader is read_matrix  # a valid file: one entry, a zero
        assert M.shape == (2, 2) and M.nnz == 1 and M[0, 1] == 0.0


@pytest.mark.parametrize("kind, body, expected", [
    (("coordinate", "real", "symmetric"), "3 3 3\n1 1 4\n2 1 -1\n3 2 -2\n",
     [[4, -1, 0], [-1, 0, -2], [0, -2, 0]]),
    (("coordinate", "real", "skew-symmetric"), "2 2 1\n2 1 5\n", [[0, -5], [5, 0]]),
    (("coordinate", "pattern", "general"), "2 2 2\n1 1\n2 1\n", [[1, 0], [1, 0]]),
    (("coordinate", "pattern", "symmetric"), "2 2 2\n1 1\n2 1\n", [[1, 1], [1, 0]]),
    (("coordinate", "integer", "general"), "% a comment\n2 2 2\n1 1 7\n2 2 -3\r\n", [[7, 0], [0, -3]]),
    (("array", "real", "general"), "2 2\n1\n2\n3\n4\n", [[1, 3], [2, 4]]),
    (("array", "real", "symmetric"), "2 2\n1\n2\n3\n", [[1, 2], [2, 3]]),
    (("array", "integer", "skew-symmetric"), "3 3\n1\n2\n3\n", [[0, -1, -2], [1, 0, -3], [2, 3, 0]]),
], ids=["symmetric", "skew", "pattern", "pattern-symmetric", "integer", "array", "array-symmetric",
        "array-skew"])
def test_every_supported_kind_reads_as_the_matrix_it_describes(tmp_path, kind, body, expected):
    M = read_matrix(write(tmp_path / "m.mtx", BANNER.format(*kind) + body))
    assert M.dtype == np.float64
    np.testing.assert_array_equal(M.toarray(), np.array(expected, dtype=float))


@pytest.mark.parametrize("body, match", [
    ("2 2 2\n1 1 1\n", "found 1"),
    ("2 2 1\n1 1 1\n2 2 2\n", "found 2\\+"),
    ("2 2 1\n3 1 1\n", "row index"),
    ("2 2 1\n1 0 1\n", "column index"),
    ("2 2 1\n1.5 1 1\n", "row index"),
    ("2 2 1\n1 1\n", "3 numbers"),
    ("2 2 1\n1 1 nan\n", "NaN"),
    ("2 2 1\n1 1 1e999\n", "NaN or infinite"),
    ("2 2 1\n1 1 0x10\n", "cannot read"),
])
def test_malformed_coordinate_entries_are_invalid_system_errors(tmp_path, body, match):
    with pytest.raises(InvalidSystemError, match=match):
        read_matrix(write(tmp_path / "m.mtx", BANNER.format("coordinate", "real", "general") + body))


def test_complex_right_hand_side_is_refused_not_truncated(tmp_path, capsys, system_files):
    b = write(tmp_path / "bc.mtx", BANNER.format("array", "complex", "general") + "2 1\n1.0 2.0\n3.0 0.0\n")
    with pytest.raises(InvalidSystemError, match="complex"):
        read_vector(b)
    rc, out, err = run_cli(capsys, "solve", system_files[0], b)
    assert_one_error_line(rc, err, "bc.mtx", "complex")


TOKENS = ["0", "1", "2", "3", "-1", "1e308", "1e999", "nan", "inf", "9223372036854775808", "1.5", "x", "", " ",
          "\t", "%", "0x10", "1e-400"]
BANNERS = [BANNER.format(f, k, s).strip() for f in ("coordinate", "array")
           for k in ("real", "integer", "pattern", "complex", "double")
           for s in ("general", "symmetric", "skew-symmetric", "hermitian")]

mm_like = st.builds(
    lambda banner, lines, end: (banner + "\n" + "\n".join(" ".join(t) for t in lines) + end).encode(),
    st.sampled_from(BANNERS),
    st.lists(st.lists(st.one_of(st.sampled_from(TOKENS), st.integers(0, 6).map(str)), max_size=4), max_size=8),
    st.sampled_from(["", "\n", " ", "\n\n"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200), mm_like))
def test_read_of_any_bytes_gives_a_finite_matrix_or_invalid_system_error(tmp_path, raw):
    path = write(tmp_path / "m.mtx", raw)
    for reader in (read_matrix, read_vector):
        try:
            M = reader(path)
        except InvalidSystemError:
            continue
        values = M.toarray() if sp.issparse(M) else M
        assert values.dtype == np.float64 and np.all(np.isfinite(values))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=mm_like)
def test_cli_solve_of_any_matrix_file_exits_0_or_prints_one_error_line(tmp_path, capsys, raw):
    A = write(tmp_path / "A.mtx", raw)
    b = write(tmp_path / "b.mtx", BANNER.format("array", "real", "general") + "2 1\n1\n2\n")
    rc, out, err = run_cli(capsys, "solve", A, b, "--policy", "direct")
    if rc != 0:
        assert_one_error_line(rc, err)


# ----------------------------------------------------------------------------------- contexts
@pytest.mark.parametrize("content", [
    '{"c": ' + "9" * 400 + "}",
    '{"c": 1e999}',
    '{"c": NaN}',
    '{"c": -Infinity}',
    '{"c": "high"}',
    '{"c": {"nested": 1}}',
    '{"c": [1, 2]}',
    '{"c": true}',
    "[1, 2]",
    "3.5",
    "null",
    "{not json",
    b"\xff\xfe{}",
    "[" * 100_000,
    '{"c": ' + "1" * 5000 + "}",
    '{"c": 1, "pad": "' + "x" * (2 << 20) + '"}',
], ids=["400-digits", "1e999", "nan", "-inf", "string", "object", "list", "bool", "array", "number", "null",
        "syntax", "utf8", "deep", "5000-digits", "huge-file"])
def test_bad_context_file_is_an_invalid_system_error_naming_it(tmp_path, capsys, system_files, content):
    A, b = system_files
    seq = tmp_path / "seq"
    seq.mkdir()
    os.link(A, seq / "A_0000.mtx")
    os.link(b, seq / "b_0000.mtx")
    write(seq / "context_0000.json", content)
    with pytest.raises(InvalidSystemError, match="context_0000.json"):
        MatrixMarketSequence(seq).system()
    rc, out, err = run_cli(capsys, "sequence", seq, "--no-progress")
    assert_one_error_line(rc, err, "context_0000.json")


def test_good_context_file_reads_as_floats(tmp_path):
    path = write(tmp_path / "context_0000.json", '{"c": 3, "d": -2.5e-3}')
    assert read_context(path) == {"c": 3.0, "d": -2.5e-3}


# ----------------------------------------------------------------------------------- outputs
def test_solve_out_into_missing_folder_fails_before_solving(tmp_path, capsys, system_files, monkeypatch):
    import seqsolve.solver

    monkeypatch.setattr(seqsolve.solver.SequenceSolver, "solve",
                        lambda *a, **k: pytest.fail("solved before checking --out"))
    target = tmp_path / "missing" / "x.mtx"
    for policy in ("default", "cg"):
        rc, out, err = run_cli(capsys, "solve", *system_files, "--out", target, "--policy", policy)
        assert_one_error_line(rc, err, str(target), "does not exist")
        assert "solved" not in out


def test_sequence_out_into_missing_folder_fails_before_solving(tmp_path, capsys, system_files, monkeypatch):
    import seqsolve.runner

    seq = tmp_path / "seq"
    seq.mkdir()
    os.link(system_files[0], seq / "A_0000.mtx")
    os.link(system_files[1], seq / "b_0000.mtx")
    monkeypatch.setattr(seqsolve.runner, "run", lambda *a, **k: pytest.fail("ran before checking --out"))
    rc, out, err = run_cli(capsys, "sequence", seq, "--no-progress", "--out", tmp_path / "nope" / "r.json")
    assert_one_error_line(rc, err, "nope", "does not exist")
    assert out == ""


@pytest.mark.parametrize("command", [["demo"], ["bench", "heat2d", "--policies", "cg"]])
def test_output_folder_that_cannot_be_created_fails_before_the_benchmark(tmp_path, capsys, monkeypatch, command):
    import seqsolve.bench

    monkeypatch.setattr(seqsolve.bench, "benchmark", lambda *a, **k: pytest.fail("ran before checking --out"))
    blocker = write(tmp_path / "a-file", "not a folder")
    rc, out, err = run_cli(capsys, *command, "--nx", "4", "--steps", "2", "--no-progress",
                           "--out", blocker / "results")
    assert_one_error_line(rc, err, "a-file", "not a folder")


def test_out_over_a_device_is_refused(tmp_path, capsys, system_files):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    rc, out, err = run_cli(capsys, "solve", *system_files, "--out", "/dev/full")
    assert_one_error_line(rc, err, "/dev/full", "not a regular file")
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")


def test_train_precond_refuses_to_overwrite_a_foreign_file_before_training(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    import seqsolve.neural.training

    monkeypatch.setattr(seqsolve.neural.training, "train", lambda *a, **k: pytest.fail("trained first"))
    notes = write(tmp_path / "notes.sqnn", "my precious notes\n")
    rc, out, err = run_cli(capsys, "train-precond", "fluid2d", "--n", "16", "--minutes", "0.01",
                           "--out", notes, "--no-progress")
    assert_one_error_line(rc, err, "refusing to overwrite")
    assert notes.read_text() == "my precious notes\n"


def test_unexpected_errors_are_one_line_too(capsys, monkeypatch):
    import seqsolve.cli

    def boom(args):
        raise RuntimeError("something nobody foresaw\nacross two lines")

    monkeypatch.setattr(seqsolve.cli, "cmd_configs", boom)
    monkeypatch.delenv("SEQSOLVE_DEBUG", raising=False)
    rc, out, err = run_cli(capsys, "configs")
    assert_one_error_line(rc, err, "RuntimeError", "something nobody foresaw across two lines")
