"""Issue 7 (reliability): state files and model files are safe to read and write.

Reading: any bytes at all give a working object or a StateFileError; nothing unbounded is read
or allocated.  Writing: atomic, and only over a valid file of the same kind; every failure is a
StateFileError that leaves the old file intact, also with concurrent writers and SIGKILL.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import multiprocessing
import os
import signal
import stat
import struct
import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqsolve import ConvergenceError, SequenceSolver, StateFileError, atomic, persistence
from seqsolve.persistence import FORMAT, MAX_STATE_BYTES, VERSION, _digest, read_state

FORK = multiprocessing.get_context("fork")


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging) if the block blocks, e.g. on a FIFO."""
    def _alarm(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------------- systems
N = 60


def system(c: float):
    """A small SPD system A + c I (1-D Laplacian), with the context the bandits need."""
    main = (2.2 + c) * np.ones(N)
    A = sp.diags([-np.ones(N - 1), main, -np.ones(N - 1)], [-1, 0, 1], format="csr")
    return A, np.linspace(1.0, 2.0, N)


def trained(spec: str) -> SequenceSolver:
    s = SequenceSolver(rtol=1e-8, policy=spec, seed=1)
    for k in range(16):
        c = [0.0, 0.5, 3.0, 9.0][k % 4]
        A, b = system(c)
        s.solve(A, b, context={"c": c})
    return s


SPECS = ["fixed:cg", "tsallis-inf", "chebcb", "auto"]


@pytest.fixture(scope="module")
def saved_docs(tmp_path_factory) -> dict[str, dict]:
    """A state file document per policy, after real solves."""
    d = tmp_path_factory.mktemp("states")
    docs = {}
    for spec in SPECS:
        trained(spec).save(d / f"{spec}.json")
        docs[spec] = json.loads((d / f"{spec}.json").read_text())
    return docs


def write_doc(path, doc, *, rechecksum: bool = True) -> None:
    doc = copy.deepcopy(doc)
    if rechecksum and isinstance(doc.get("payload"), dict):
        doc["sha256"] = _digest(doc["payload"])
    path.write_text(json.dumps(doc))


def assert_works(solver: SequenceSolver) -> None:
    """Solves meet the solver's own tolerance (or raise the documented ConvergenceError), and the
    solver saves and loads again."""
    for c in (0.5, 9.0, 0.0, 2.0):
        A, b = system(c)
        try:
            x = solver.solve(A, b, context={"c": c})
        except ConvergenceError:
            assert solver.rtol < 1e-15 and solver.atol < 1e-15  # only an unreachable tolerance may fail
            continue
        assert np.linalg.norm(b - A @ x) <= max(solver.rtol * np.linalg.norm(b), solver.atol) * (1 + 1e-9)


# ----------------------------------------------------------------------------------- overwrite guard
def test_save_refuses_to_overwrite_a_state_file_with_a_corrupt_checksum(tmp_path, saved_docs):
    path = tmp_path / "s.json"
    doc = copy.deepcopy(saved_docs["tsallis-inf"])
    doc["payload"]["solver"]["rtol"] = 0.5  # the format tag is valid, the checksum is not
    write_doc(path, doc, rechecksum=False)
    before = path.read_bytes()
    with pytest.raises(StateFileError, match="refusing to overwrite.*checksum"):
        SequenceSolver().save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["s.json"]


def test_save_replaces_a_verified_state_file(tmp_path):
    path = tmp_path / "s.json"
    SequenceSolver(policy="tsallis-inf", seed=1).save(path)
    SequenceSolver(policy="fixed:cg", seed=2).save(path)
    assert read_state(path)["policy"]["spec"] == "fixed:cg"


def test_save_refuses_a_newer_format_version_it_cannot_verify(tmp_path, saved_docs):
    path = tmp_path / "s.json"
    write_doc(path, {**saved_docs["fixed:cg"], "version": VERSION + 1})
    with pytest.raises(StateFileError, match="refusing to overwrite"):
        SequenceSolver().save(path)


# ----------------------------------------------------------------------------------- bounded reads
def test_save_to_a_device_neither_reads_nor_replaces_it():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with deadline(10), pytest.raises(StateFileError, match="not a regular file"):
        SequenceSolver().save("/dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # still the device


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "state.json"
    os.mkfifo(fifo)
    with deadline(10):
        with pytest.raises(StateFileError, match="not a regular file"):
            SequenceSolver.load(fifo)
        with pytest.raises(StateFileError, match="refusing to overwrite"):
            SequenceSolver().save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_reads_stop_at_the_size_cap(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 5000)
    reads = []
    real_read = os.read
    with monkeypatch.context() as m:
        m.setattr(atomic.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
        m.setattr(persistence, "MAX_STATE_BYTES", 1000)
        with pytest.raises(StateFileError, match="too large"):
            SequenceSolver.load(path)
        with pytest.raises(StateFileError, match="refusing to overwrite.*too large"):
            SequenceSolver(policy="fixed:cg").save(path)
    assert sum(reads) <= 1001
    assert MAX_STATE_BYTES == 64 * 1024 * 1024


def test_read_limited_never_returns_more_than_the_cap_even_if_the_file_grows(tmp_path, monkeypatch):
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 10)  # passes the size check; then "grows" while being read
    with monkeypatch.context() as m, pytest.raises(ValueError, match="more than 100 bytes"):
        m.setattr(atomic.os, "read", lambda fd, n: b"y" * n)
        atomic.read_limited(path, 100, ValueError)


# ----------------------------------------------------------------------------------- write failures
def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    target = tmp_path / "no" / "such" / "state.json"
    with pytest.raises(StateFileError, match=f"folder {tmp_path / 'no' / 'such'} does not exist"):
        SequenceSolver().save(target)


@pytest.mark.parametrize("failure", [
    ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    ("mkstemp", PermissionError(errno.EACCES, "Permission denied")),
    ("replace", OSError(errno.EIO, "Input/output error")),
])
def test_write_errors_become_state_file_errors_and_keep_the_old_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "s.json"
    SequenceSolver(policy="tsallis-inf").save(path)
    before = path.read_bytes()
    name, exc = failure

    def fail(*args, **kwargs):
        raise exc

    target = atomic.tempfile if name == "mkstemp" else atomic.os
    monkeypatch.setattr(target, name, fail)
    with pytest.raises(StateFileError, match=exc.strerror):
        SequenceSolver(policy="fixed:cg").save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["s.json"]  # no temporary left behind


# ----------------------------------------------------------------------------------- validation
def _edit(doc: dict, where: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc["payload"]
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return doc


#: edits that loaded (or crashed with OverflowError/TypeError/IndexError) before every value was checked
BAD_EDITS = [
    ("fixed:cg", ("solver", "rtol"), 10**400),
    ("fixed:cg", ("solver", "rtol"), "1e-8"),
    ("fixed:cg", ("solver", "maxiter"), 10**30),
    ("fixed:cg", ("solver", "maxiter"), 0),
    ("fixed:cg", ("solver", "warm_start"), "yes"),
    ("fixed:cg", ("solver", "blas_threads"), -3),
    ("fixed:cg", ("solver", "unknown"), 1),
    ("fixed:cg", ("solver",), [1, 2]),
    ("fixed:cg", ("policy", "spec"), 7),
    ("fixed:cg", ("policy", "spec"), "fixed:warp-drive"),
    ("fixed:cg", ("policy", "state"), "none"),
    ("tsallis-inf", ("policy", "state", "scale"), float("nan")),
    ("tsallis-inf", ("policy", "state", "scale"), -1.0),
    ("tsallis-inf", ("policy", "state", "learner", "t"), 10**400),
    ("tsallis-inf", ("policy", "state", "learner", "counts"), [1, 2]),
    ("tsallis-inf", ("policy", "state", "learner", "cumulative_loss_estimates"), [1e300] * 20),
    ("tsallis-inf", ("policy", "state", "learner", "newton_x"), -1e300),
    ("tsallis-inf", ("policy", "state", "learner", "probabilities"), [1.0] + [0.0] * 19),
    ("tsallis-inf", ("policy", "state", "learner", "last_arm"), 20),
    ("tsallis-inf", ("policy", "state", "learner", "rng_state"), {"bit_generator": "PCG64", "state": 1}),
    ("chebcb", ("policy", "state", "learner", "gram_inv"), [[[1e300] * 6] * 6] * 20),
    ("chebcb", ("policy", "state", "learner", "gram"), [[[0.0] * 6] * 6] * 20),
    ("chebcb", ("policy", "state", "learner", "eta_current"), float("inf")),
    ("chebcb", ("policy", "state", "learner", "coef"), [[5.0] * 6] * 20),
    ("auto", ("policy", "state", "candidates"), []),
    ("auto", ("policy", "state", "candidates"), "cg"),
    ("auto", ("policy", "state", "t"), -1),
    ("auto", ("policy", "state", "spent"), [1.0]),
    ("auto", ("policy", "state", "stats"), [[[7, 0], "not-a-candidate", 1.0, 1, 1, 5.0]]),
    ("auto", ("policy", "state", "stats"), [[[7, 0], "numba-cg", float("inf"), 1, 1, 5.0]]),
    ("auto", ("policy", "state", "stats"), [[[7, 0], "numba-cg", 1.0, -1, 1, 5.0]]),
    ("auto", ("policy", "state", "stats"), [[[7, 10**9], "numba-cg", 1.0, 1, 1, 5.0]]),
    ("auto", ("policy", "state", "per_iteration"), {"numba-cg": 1e-300}),
    ("auto", ("policy", "state", "per_iteration"), [1.0]),
    ("auto", ("policy", "state", "rng"), [3, [0] * 10, None]),
]


@pytest.mark.parametrize("spec, where, value", BAD_EDITS, ids=[f"{s}:{'.'.join(map(str, w))}" for s, w, _ in BAD_EDITS])
def test_rechecksummed_bad_values_raise_state_file_error(tmp_path, saved_docs, spec, where, value):
    path = tmp_path / "s.json"
    write_doc(path, _edit(saved_docs[spec], where, value))
    with pytest.raises(StateFileError):
        SequenceSolver.load(path)


@pytest.mark.parametrize("spec", SPECS)
def test_unedited_state_loads_and_works(tmp_path, saved_docs, spec):
    path = tmp_path / "s.json"
    write_doc(path, saved_docs[spec])
    solver = SequenceSolver.load(path)
    assert json.loads(json.dumps(solver.policy.state_dict())) == saved_docs[spec]["payload"]["policy"]["state"]
    assert_works(solver)


def _leaf_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, prefix + (i,))


NASTY = st.one_of(
    st.sampled_from([None, True, 0, -1, 1, 2**31, 2**53 + 1, 2**63, 2**64, 10**400, -10**30, 0.5, 1e-12, 5e-324,
                     1e308, -1e308, float("nan"), float("inf"), float("-inf"), "", "1.5", [], {}, [None], [[1]]]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=25),
)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_load_of_any_rechecksummed_edit_raises_or_works(tmp_path, saved_docs, spec, data):
    """The fuzzing user's experiment: edit any values, recompute the checksum, load, solve."""
    doc = copy.deepcopy(saved_docs[spec])
    paths = [p for p in _leaf_paths(doc["payload"]) if p]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        where = data.draw(st.sampled_from(paths), label="where")
        try:
            doc = _edit(doc, where, data.draw(NASTY, label="value"))
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the path
            pass
    path = tmp_path / "s.json"
    write_doc(path, doc)
    try:
        solver = SequenceSolver.load(path)
    except StateFileError:
        return
    assert_works(solver)
    solver.save(path)
    SequenceSolver.load(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(
    st.binary(max_size=400),
    st.builds(lambda payload: json.dumps({"format": FORMAT, "version": VERSION, "sha256": _digest(payload),
                                          "payload": payload}).encode(),
              st.dictionaries(st.sampled_from(["solver", "policy", "seqsolve_version", "x"]),
                              st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                                           lambda kids: st.lists(kids, max_size=3)
                                           | st.dictionaries(st.sampled_from(["spec", "state", "rtol", "seed"]),
                                                             kids, max_size=3),
                                           max_leaves=10))),
))
def test_load_of_any_bytes_raises_state_file_error_or_works(tmp_path, raw):
    path = tmp_path / "s.json"
    path.write_bytes(raw)
    try:
        solver = SequenceSolver.load(path)
    except StateFileError:
        return
    assert_works(solver)


def test_deeply_nested_json_is_a_state_file_error(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(StateFileError, match="corrupt JSON"):
        SequenceSolver.load(path)


# ----------------------------------------------------------------------------------- concurrency
def _save_repeatedly(path: str, seed: int, count: int) -> None:
    solver = trained_for_child(seed)
    for _ in range(count):
        solver.save(path)


def trained_for_child(seed: int) -> SequenceSolver:
    """Two distinguishable solvers (no solving in a forked child: no BLAS after fork)."""
    return SequenceSolver(policy="tsallis-inf", seed=seed)


def _payloads() -> list[dict]:
    return [json.loads(json.dumps({"policy": trained_for_child(s).policy.state_dict()})) for s in (1, 2)]


def test_two_processes_saving_to_one_path_leave_a_complete_file(tmp_path):
    path = str(tmp_path / "s.json")
    SequenceSolver(policy="tsallis-inf", seed=1).save(path)
    procs = [FORK.Process(target=_save_repeatedly, args=(path, seed, 40)) for seed in (1, 2)]
    for p in procs:
        p.start()
    seen = set()
    while any(p.is_alive() for p in procs):
        payload = read_state(path)  # never half-written, never foreign: always a verified file
        seen.add(payload["policy"]["state"]["learner"]["seed"])
    for p in procs:
        p.join()
        assert p.exitcode == 0  # neither writer was refused: each replaced only verified files
    final = read_state(path)["policy"]["state"]
    assert final in [p["policy"] for p in _payloads()]
    assert seen <= {1, 2}


def test_sigkill_during_save_leaves_the_old_or_the_new_file(tmp_path):
    path = str(tmp_path / "s.json")
    SequenceSolver(policy="tsallis-inf", seed=1).save(path)
    expected = [p["policy"] for p in _payloads()]
    rng = np.random.default_rng(0)
    for _ in range(12):
        p = FORK.Process(target=_save_repeatedly, args=(path, int(rng.integers(1, 3)), 10**6))
        p.start()
        time.sleep(float(rng.uniform(0.005, 0.05)))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert read_state(path)["policy"]["state"] in expected
    SequenceSolver(policy="tsallis-inf", seed=2).save(path)  # leftover temporaries do not get in the way
    assert read_state(path)["policy"]["state"] == expected[1]


# =================================================================================== model files
@pytest.fixture
def model_file(tmp_path):
    pytest.importorskip("torch")
    from seqsolve.neural.model import DCDMNet
    from seqsolve.neural.model_io import save_model

    path = tmp_path / "m.sqnn"
    save_model(DCDMNet(16, width=4, levels=1, bottom_blocks=1), path)
    return path


def _rewrite_header(path, edit) -> None:
    """Edit a model file's header in place (payload and its checksum untouched)."""
    from seqsolve.neural.model_io import MAGIC

    raw = path.read_bytes()
    (hlen,) = struct.unpack("<Q", raw[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    header = json.loads(raw[start:start + hlen])
    edit(header)
    hbytes = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<Q", len(hbytes)) + hbytes + raw[start + hlen:])


def _config(**changes):
    return lambda h: h["architecture"]["config"].update(changes)


@pytest.mark.parametrize("edit", [
    _config(width=200_000),
    _config(levels=10**6),
    _config(bottom_blocks=10**7),
    _config(width=1024, bottom_blocks=64),  # each value allowed, the network far too large
    _config(width=4.0),
    _config(width=True),
    _config(features="residual"),
    _config(features=["residual"] * 10**5),
    _config(extra=1),
    lambda h: h.update(payload_nbytes=10**15),
    lambda h: h.update(payload_nbytes=-1),
    lambda h: h["metadata"].update(grid_size=10**12),
    lambda h: h["tensors"][0].update(shape=[10**6, 10**6]),
    lambda h: h["tensors"][0].update(offset=10**15),
    lambda h: h["tensors"].append(dict(h["tensors"][0])),  # two tensors over the same bytes
    lambda h: h.update(tensors={"a": 1}),
], ids=["width", "levels", "bottom_blocks", "parameters", "float", "bool", "features-str", "features-long",
        "unknown-arg", "payload-1e15", "payload-negative", "grid", "shape", "offset", "overlap", "table"])
def test_crafted_model_header_is_refused_before_anything_is_built(model_file, monkeypatch, edit):
    from seqsolve.neural import model as model_module
    from seqsolve.neural.model_io import load_model

    _rewrite_header(model_file, edit)
    built = []
    real_init = model_module.DCDMNet.__init__
    monkeypatch.setattr(model_module.DCDMNet, "__init__", lambda self, *a, **k: built.append(1) or real_init(self, *a, **k))
    t0 = time.perf_counter()
    with deadline(20), pytest.raises(StateFileError):
        load_model(model_file, device="cpu")
    assert not built
    assert time.perf_counter() - t0 < 5.0


def test_network_constructor_bounds_its_sizes():
    pytest.importorskip("torch")
    from seqsolve.neural.model import MAX_PARAMETERS, DCDMNet, check_hyperparameters

    for kw in [dict(width=200_000), dict(levels=10**6), dict(bottom_blocks=10**7), dict(width=2.5),
               dict(enc_blocks=-1), dict(width=1024, bottom_blocks=64)]:
        with pytest.raises(ValueError):
            DCDMNet(16, **kw)
    sizes = dict(width=16, levels=2, enc_blocks=1, bottom_blocks=2, dec_blocks=1)
    assert check_hyperparameters(16, in_channels=3, **sizes) == DCDMNet(16, **sizes).num_parameters()
    assert check_hyperparameters(16, in_channels=3, **sizes) < MAX_PARAMETERS


@pytest.mark.parametrize("existing", ["foreign", "damaged", "fifo"])
def test_save_model_refuses_to_overwrite_anything_but_a_valid_model(model_file, existing):
    from seqsolve.neural.model import DCDMNet
    from seqsolve.neural.model_io import save_model

    target = model_file.parent / "target.sqnn"
    if existing == "foreign":
        target.write_bytes(b"my precious notes\n")
    elif existing == "damaged":
        raw = bytearray(model_file.read_bytes())
        raw[-10] ^= 0xFF
        target.write_bytes(bytes(raw))
    else:
        os.mkfifo(target)
    before = None if existing == "fifo" else target.read_bytes()
    with deadline(10), pytest.raises(StateFileError, match="refusing to overwrite"):
        save_model(DCDMNet(16, width=4, levels=1, bottom_blocks=1), target)
    if before is not None:
        assert target.read_bytes() == before
    assert sorted(os.listdir(model_file.parent)) == ["m.sqnn", "target.sqnn"]


def test_save_model_replaces_a_valid_model_atomically(model_file, monkeypatch):
    from seqsolve.neural.model import DCDMNet
    from seqsolve.neural.model_io import load_model, save_model

    save_model(DCDMNet(16, width=4, levels=1, bottom_blocks=1), model_file, {"note": "second"})
    assert load_model(model_file, device="cpu").metadata["note"] == "second"
    before = model_file.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(StateFileError, match="No space left"):
        save_model(DCDMNet(16, width=4, levels=1, bottom_blocks=1), model_file, {"note": "third"})
    assert model_file.read_bytes() == before
    assert os.listdir(model_file.parent) == ["m.sqnn"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_load_model_of_any_bytes_raises_state_file_error_or_loads(model_file, data):
    from seqsolve.neural.model_io import load_model, read_metadata

    raw = model_file.read_bytes()
    path = model_file.parent / "fuzz.sqnn"
    kind = data.draw(st.sampled_from(["random", "flip", "cut", "header"]))
    if kind == "random":
        path.write_bytes(data.draw(st.binary(max_size=300)))
    elif kind == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        path.write_bytes(raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:])
    elif kind == "cut":
        path.write_bytes(raw[:data.draw(st.integers(0, len(raw) - 1))])
    else:
        path.write_bytes(raw)
        _rewrite_header(path, lambda h: h["architecture"]["config"].update(
            {data.draw(st.sampled_from(["width", "levels", "enc_blocks", "bottom_blocks", "dec_blocks"])):
             data.draw(st.one_of(st.integers(), st.floats(), st.none(), st.text(max_size=3)))}))
    with deadline(20):
        for reader in (read_metadata, lambda p: load_model(p, device="cpu")):
            try:
                reader(path)
            except StateFileError:
                pass


def test_an_absurd_learned_cost_is_saved_so_that_it_loads(tmp_path):
    """An edited prior (8.9e9 s per iteration) made ``auto`` learn a mean cost above the bound
    ``load`` accepts (1e12 s): what was saved must always load, so it is saved at that bound."""
    import scipy.sparse as sp

    n = 50
    A = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)))
    solver = SequenceSolver(policy="auto")
    solver.solve(A, np.ones(n))
    for entries in solver.policy.stats_.values():
        for entry in entries.values():
            entry[0], entry[3] = 5e12, 3e12
    solver.save(tmp_path / "s.json")
    loaded = SequenceSolver.load(tmp_path / "s.json")
    assert all(e[0] == 1e12 for entries in loaded.policy.stats_.values() for e in entries.values())
    np.testing.assert_allclose(A @ loaded.solve(A, np.ones(n)), np.ones(n), rtol=0, atol=1e-7)
