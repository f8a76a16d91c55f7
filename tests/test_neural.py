"""Tests for seqsolve.neural: the DCDM network, its file format, training and the iteration.

Fast by design (grids 16-32, a few optimizer steps); anything that trains for real is marked
``slow``.  The solution contract checked throughout: a ``"converged"`` status always comes with
a true residual ``||b - A x|| <= rtol ||b||`` (and agrees with a direct solve); a network that
is useless yields a non-converged status, never an exception or a false claim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

torch = pytest.importorskip("torch")

from seqsolve.errors import ConfigurationError, StateFileError  # noqa: E402
from seqsolve.neural.dcdm import DCDMMethod, NetworkDirection, dcdm, fcg  # noqa: E402
from seqsolve.neural.model import DCDMNet, apply_network, grid_features, solid_rows  # noqa: E402
from seqsolve.neural.model_io import MAGIC, load_model, read_metadata, save_model  # noqa: E402
from seqsolve.neural.training import (  # noqa: E402
    apply_stencil,
    build_training_set,
    lanczos_ritz,
    scale_invariant_loss,
    stencil_images,
    train,
)
from seqsolve.problems.fluid2d import Fluid2D, pressure_matrix, random_obstacle_mask  # noqa: E402

RTOL = 1e-6


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine torch's OpenMP pool otherwise stalls
    badly whenever the other core is busy (a 1 s test took 30 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- helpers
def obstacle_system(n: int, seed: int = 0):
    """A pressure matrix with random obstacles and a random rhs that is zero on solid cells."""
    rng = np.random.default_rng(seed)
    A = pressure_matrix(random_obstacle_mask(n, rng))
    b = rng.standard_normal(n * n)
    b[solid_rows(A)] = 0.0
    return A, b


def fluid_system(n: int, steps: int = 3, seed: int = 0):
    """A real Fluid2D system after a few steps."""
    prob = Fluid2D(n, steps + 1, seed=seed)
    for _ in range(steps):
        s = prob.system()
        prob.accept(spsolve(sp.csc_matrix(s.A), s.b))
    s = prob.system()
    return s.A, s.b


def net(n: int, seed: int = 0, **kw) -> DCDMNet:
    torch.manual_seed(seed)
    return DCDMNet(n, **kw).eval()


def constant_net(n: int, value: float) -> DCDMNet:
    """A network whose output ignores its input: ``value`` everywhere."""
    m = net(n)
    with torch.no_grad():
        m.conv_out.weight.zero_()
        m.conv_out.bias.fill_(value)
    return m


def check_contract(A, b, res, rtol=RTOL):
    rel = np.linalg.norm(b - A @ res.x) / np.linalg.norm(b)
    if res.status == "converged":
        assert rel <= rtol * (1 + 1e-9), f"claimed convergence at relative residual {rel:.3e}"
        x_ref = spsolve(sp.csc_matrix(A), b)
        assert np.linalg.norm(res.x - x_ref) <= 1e-3 * np.linalg.norm(x_ref)
    else:
        assert res.status in ("maxiter", "breakdown", "nan", "indefinite")
    return rel


def cg_iterations(A, b, rtol=RTOL):
    from scipy.sparse.linalg import cg

    it = [0]
    cg(A, b, rtol=rtol, atol=0.0, maxiter=10 * A.shape[0], callback=lambda _: it.__setitem__(
        0, it[0] + 1))
    return it[0]


# ----------------------------------------------------------------------------- import hygiene
def test_import_without_torch_is_lazy_and_hints_install():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import seqsolve, seqsolve.neural\n"
        "from seqsolve.neural.dcdm import DCDMMethod\n"
        "import scipy.sparse as sp\n"
        "I = sp.identity(16, format='csr')\n"
        "assert not DCDMMethod('x.sqnn').applicable(I, symmetric=True)\n"
        "try:\n"
        "    seqsolve.neural.DCDMNet\n"
        "except ImportError as e:\n"
        "    assert 'pip install torch==2.13.0' in str(e), e\n"
        "    print('OK')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"


# ----------------------------------------------------------------------------- network
@pytest.mark.parametrize("n", [16, 20, 18])
def test_network_is_fully_convolutional(n):
    m = net(16)
    x = torch.randn(2, m.in_channels, n, n)
    with torch.inference_mode():
        y = m(x)
    assert y.shape == (2, 1, n, n)
    assert m.grid_size == 16
    assert 5_000 < m.num_parameters() < 100_000


def test_network_rejects_wrong_channels():
    with pytest.raises(ValueError):
        net(16)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError):
        DCDMNet(16, features=("solid", "residual"))


def test_grid_features_and_solid_rows():
    n = 16
    mask = np.zeros((n, n), dtype=bool)
    mask[5:9, 6:10] = True
    A = pressure_matrix(mask)
    images, solid = grid_features(A, (n, n))
    assert np.array_equal(solid.reshape(n, n), mask)
    assert images.shape == (2, n, n)
    assert np.array_equal(images[0] > 0, mask)
    deficit = images[1]
    assert np.all(deficit[mask] == 0) and deficit[0, 0] > 0  # corner: two walls missing
    assert deficit[n // 2, n - 1] == 0  # right column: the open boundary counts as a neighbour


def test_stencil_images_reproduce_the_matrix():
    n = 24
    A, _ = obstacle_system(n, seed=3)
    coeffs = torch.from_numpy(stencil_images(A, n))[None]
    x = np.random.default_rng(0).standard_normal(n * n)
    y = apply_stencil(coeffs.double(), torch.from_numpy(x).view(1, n, n))
    np.testing.assert_allclose(y.numpy().ravel(), A @ x, atol=1e-12)
    with pytest.raises(ValueError):  # not a 5-point stencil
        stencil_images(sp.csr_array(np.ones((n * n, n * n))), n)


def test_lanczos_ritz_pairs():
    n = 12
    A, _ = obstacle_system(n, seed=1)
    fluid = ~solid_rows(A)
    v0 = np.random.default_rng(0).standard_normal(n * n) * fluid
    exact = np.linalg.eigvalsh(A.toarray()[np.ix_(fluid, fluid)])
    # enough steps for the whole fluid block: the exact spectrum, orthonormal eigenvectors
    vals, vecs = lanczos_ritz(A, v0, n * n)
    assert len(vals) == fluid.sum()
    np.testing.assert_allclose(vals, exact, atol=1e-9 * exact[-1])
    assert np.abs(vecs[:, ~fluid]).max() < 1e-12
    np.testing.assert_allclose(vecs @ vecs.T, np.eye(len(vals)), atol=1e-9)
    # few steps: the ends of the spectrum are found first
    vals, vecs = lanczos_ritz(A, v0, 40)
    assert vecs.shape == (40, n * n)
    assert abs(vals[-1] - exact[-1]) < 1e-6 * exact[-1]
    assert vals[0] < 2 * exact[0]


# ----------------------------------------------------------------------------- training
def test_loss_is_scale_invariant_and_zero_for_the_exact_solution():
    n = 16
    A, b = obstacle_system(n, seed=2)
    coeffs = torch.from_numpy(stencil_images(A, n)).double()[None]
    x = spsolve(sp.csc_matrix(A), b)
    bt = torch.from_numpy(b).view(1, n, n)
    xt = torch.from_numpy(x).view(1, n, n)
    assert float(scale_invariant_loss(xt, bt, coeffs)) < 1e-20
    q = torch.randn(1, n, n, dtype=torch.float64)
    l1 = float(scale_invariant_loss(q, bt, coeffs))
    l2 = float(scale_invariant_loss(-7.5 * q, bt, coeffs))
    assert l1 > 1e-3 and abs(l1 - l2) < 1e-12  # (may exceed 1: alpha minimises the A-norm error)


def test_a_few_training_steps_lower_the_loss():
    n = 16
    data = build_training_set(n, num_matrices=4, ritz_vectors=32, seed=0, device="cpu",
                              trajectory_steps=4)
    gen = torch.Generator().manual_seed(5)
    mids, b = data.sample(32, gen)
    coeffs, feats, fluid = data.stack(mids)
    m = net(n).train()

    def loss():
        return scale_invariant_loss(apply_network(m, b, feats, fluid), b, coeffs)

    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    with torch.no_grad():
        before = float(loss())
    for _ in range(40):
        opt.zero_grad()
        val = loss()
        val.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss())
    assert after < 0.7 * before, (before, after)


def test_train_end_to_end_writes_checkpoints_and_is_reproducible(tmp_path):
    kw = dict(minutes=5.0, max_steps=6, seed=3, device="cpu", progress=False,
              checkpoint_every=None, batch_size=4, num_matrices=3, ritz_vectors=16,
              validation_count=1, validation_maxiter=40)
    r1 = train(16, out=str(tmp_path / "a.sqnn"), **kw)
    r2 = train(16, out=str(tmp_path / "b.sqnn"), **kw)
    assert r1.steps == 6 and r1.loss_curve and np.isfinite(r1.final_loss)
    assert len(r1.validation) == 1 and len(r1.cg_iterations) == 1
    for p in ("a.sqnn", "a.sqnn.last"):
        assert (tmp_path / p).exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    m1 = load_model(tmp_path / "a.sqnn", device="cpu")
    m2 = load_model(tmp_path / "b.sqnn", device="cpu")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    meta = read_metadata(tmp_path / "a.sqnn")
    assert meta["grid_size"] == 16 and meta["problem"] == "fluid2d"
    assert meta["training"]["seed"] == 3
    json.dumps(r1.to_dict())


# ----------------------------------------------------------------------------- DCDM
@pytest.mark.parametrize("solver", [dcdm, fcg])
def test_untrained_network_never_claims_false_convergence(solver):
    n = 32
    A, b = fluid_system(n)
    res = solver(A, b, model=net(n), grid_shape=(n, n), rtol=RTOL, maxiter=400)
    check_contract(A, b, res)


@pytest.mark.parametrize("solver", [dcdm, fcg])
def test_identity_direction_is_conjugate_gradients(solver):
    n = 24
    A, b = obstacle_system(n, seed=4)
    res = solver(A, b, model=lambda r: r, grid_shape=(n, n), rtol=RTOL)
    assert res.status == "converged"
    check_contract(A, b, res)
    assert abs(res.iterations - cg_iterations(A, b)) <= 3


def test_exact_inverse_direction_converges_in_one_step():
    n = 16
    A, b = obstacle_system(n, seed=5)
    lu = sp.linalg.splu(sp.csc_matrix(A))
    res = dcdm(A, b, model=lambda r: lu.solve(r.ravel()), grid_shape=(n, n), rtol=1e-10)
    assert res.status == "converged" and res.iterations == 1
    check_contract(A, b, res, rtol=1e-10)


@pytest.mark.parametrize("solver", [dcdm, fcg])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_useless_network_fails_fast_and_honestly(solver, value):
    n = 24
    A, b = obstacle_system(n, seed=6)
    res = solver(A, b, model=constant_net(n, value), grid_shape=(n, n), rtol=RTOL, maxiter=500)
    assert res.status == "breakdown"
    assert res.iterations <= 40
    assert np.all(np.isfinite(res.x))
    check_contract(A, b, res)


@pytest.mark.parametrize("solver", [dcdm, fcg])
def test_nan_direction_is_a_breakdown(solver):
    n = 16
    A, b = obstacle_system(n, seed=7)
    res = solver(A, b, model=lambda r: np.full_like(r, np.nan), grid_shape=(n, n))
    assert res.status == "breakdown" and res.iterations == 0


def test_stalling_direction_is_caught_by_the_stagnation_test():
    n = 16
    A, b = obstacle_system(n, seed=8)
    rng = np.random.default_rng(0)
    # directions nearly orthogonal to every residual: tiny progress per step
    res = dcdm(A, b, model=lambda r: rng.standard_normal(r.shape), grid_shape=(n, n),
               rtol=1e-12, maxiter=2000, n_orth=2, angle_tol=0.0, stagnation_window=20)
    assert res.status in ("breakdown", "maxiter") and res.iterations < 2000
    check_contract(A, b, res, rtol=1e-12)


def test_solid_cells_are_solved_exactly_and_x0_is_used():
    n = 16
    A, b = obstacle_system(n, seed=9)
    solid = solid_rows(A)
    b[solid] = 3.0  # identity rows: x = 3 there
    x_ref = spsolve(sp.csc_matrix(A), b)
    res = dcdm(A, b, x0=x_ref + 1e-9, model=lambda r: r, grid_shape=(n, n), rtol=RTOL)
    assert res.status == "converged" and res.iterations <= 1
    np.testing.assert_allclose(res.x[solid], 3.0)
    res = dcdm(A, b, model=lambda r: r, grid_shape=(n, n), rtol=1e-9)
    check_contract(A, b, res, rtol=1e-9)


def test_residual_history_and_callback():
    n = 16
    A, b = obstacle_system(n, seed=10)
    hist, seen = [], []
    res = dcdm(A, b, model=lambda r: r, grid_shape=(n, n), residuals=hist,
               callback=lambda x: seen.append(x.copy()))
    assert len(hist) == len(seen) == res.iterations
    assert hist[-1] <= RTOL * np.linalg.norm(b)


def test_network_path_is_invariant_to_the_scale_of_b():
    n = 16
    A, b = obstacle_system(n, seed=14)
    m = net(n)
    runs = [dcdm(A, b * s, model=m, grid_shape=(n, n), maxiter=60) for s in (1e-30, 1.0, 1e30)]
    assert len({(r.status, r.iterations) for r in runs}) == 1
    for s, r in zip((1e-30, 1.0, 1e30), runs):
        np.testing.assert_allclose(r.x / s, runs[1].x, rtol=1e-5, atol=1e-5 * abs(runs[1].x).max())


def test_zero_rhs_converges_immediately():
    n = 16
    A, _ = obstacle_system(n, seed=11)
    res = dcdm(A, np.zeros(n * n), model=net(n), grid_shape=(n, n))
    assert res.status == "converged" and res.iterations == 0 and not res.x.any()


def test_network_direction_rejects_wrong_grid():
    A, _ = obstacle_system(16)
    with pytest.raises(ConfigurationError):
        NetworkDirection(net(16), A, (8, 8))


# ----------------------------------------------------------------------------- model files
def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    n = 16
    m = net(n, seed=4)
    path = tmp_path / "m.sqnn"
    save_model(m, path, {"note": "test", "training": {"steps": 0}})
    m2 = load_model(path, expected_n=n, device="cpu")
    x = torch.randn(3, m.in_channels, n, n)
    with torch.inference_mode():
        assert torch.equal(m(x), m2(x))
    assert m2.metadata["note"] == "test" and m2.metadata["grid_size"] == n
    meta = read_metadata(path)
    for key in ("problem", "seqsolve_version", "torch_version", "format_version", "created"):
        assert key in meta
    assert meta["architecture"]["config"] == m.config()
    assert [f for f in os.listdir(tmp_path)] == ["m.sqnn"]  # no temp files left


def test_grid_size_mismatch_names_both_sizes(tmp_path):
    path = tmp_path / "m.sqnn"
    save_model(net(16), path)
    with pytest.raises(StateFileError, match=r"n=16.*n=32"):
        load_model(path, expected_n=32, device="cpu")


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage", "magic-only", "truncated",
                                    "flipped", "header", "trailing", "directory"])
def test_damaged_files_raise_state_file_error(tmp_path, damage):
    path = tmp_path / "m.sqnn"
    save_model(net(16), path)
    raw = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04 definitely not a model" * 10)
    elif damage == "magic-only":
        path.write_bytes(MAGIC[:5])
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) - 100])
    elif damage == "flipped":
        ba = bytearray(raw)
        ba[-50] ^= 0xFF
        path.write_bytes(bytes(ba))
    elif damage == "header":
        path.write_bytes(raw[:30] + b"{{{" + raw[33:])
    elif damage == "trailing":
        path.write_bytes(raw + b"\0")
    elif damage == "directory":
        path.unlink()
        path.mkdir()
    with pytest.raises(StateFileError):
        load_model(path, device="cpu")


def test_save_is_atomic_when_serialisation_fails(tmp_path):
    path = tmp_path / "m.sqnn"
    save_model(net(16), path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_model(net(16, seed=1), path, {"bad": object()})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.sqnn"]


# ----------------------------------------------------------------------------- Method
def test_dcdm_method_applicability_setup_and_solve(tmp_path):
    n = 16
    path = tmp_path / "m.sqnn"
    save_model(net(n), path)
    meth = DCDMMethod(str(path))
    assert meth.spd_only and meth.needs_matrix
    A, b = obstacle_system(n, seed=12)
    A2, _ = obstacle_system(2 * n, seed=12)
    assert meth.applicable(A, symmetric=True)
    assert not meth.applicable(A, symmetric=False)
    assert not meth.applicable(A2, symmetric=True)
    prep = meth.setup(A, None)
    res = meth.solve(prep, A, b, np.zeros(n * n), rtol=RTOL, atol=0.0, maxiter=300)
    check_contract(A, b, res)
    assert meth.setup(A, prep) is prep  # same matrix: everything reused
    A3, _ = obstacle_system(n, seed=13)
    prep3 = meth.setup(A3, prep)
    assert prep3.model is prep.model and prep3 is not prep
    with pytest.raises(ConfigurationError):
        meth.setup(A2, None)
    fres = DCDMMethod(str(path), "fcg").solve(prep, A, b, np.zeros(n * n), rtol=RTOL,
                                               atol=0.0, maxiter=300)
    check_contract(A, b, fres)


def test_dcdm_method_configuration_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError):
        DCDMMethod(None, "gmres")
    monkeypatch.delenv("SEQSOLVE_DCDM_MODEL", raising=False)
    A, _ = obstacle_system(16)
    assert DCDMMethod(None).applicable(A, symmetric=True)  # the packaged V-cycle serves any n
    import seqsolve.neural.dcdm as dcdm_module

    monkeypatch.setattr(dcdm_module, "MODEL_DIR", str(tmp_path))
    assert not DCDMMethod(None).applicable(A, symmetric=True)  # no packaged model
    with pytest.raises(StateFileError):
        DCDMMethod(str(tmp_path / "absent.sqnn")).applicable(A, symmetric=True)
    path = tmp_path / "m.sqnn"
    save_model(net(16), path)
    monkeypatch.setenv("SEQSOLVE_DCDM_MODEL", str(path))
    assert DCDMMethod(None).applicable(A, symmetric=True)


def test_dcdm_method_any_size_applies_a_model_to_other_grids(tmp_path, monkeypatch):
    """``any_size=True``: a model saved for n=16 runs on 24x24 (not a multiple of the pooling
    factor, so the padded path) and 12x12 grids; only a square grid is required."""
    from seqsolve.neural import dcdm as dcdm_module

    path = tmp_path / "m16.sqnn"
    model = net(16, seed=3)
    save_model(model, path)
    meth = DCDMMethod(str(path), any_size=True)
    assert "any_size=True" in repr(meth)
    A24, b24 = obstacle_system(24, seed=21)
    A12, b12 = obstacle_system(12, seed=22)
    assert meth.applicable(A24, symmetric=True) and meth.applicable(A12, symmetric=True)
    assert not meth.applicable(A24, symmetric=False)
    assert not meth.applicable(sp.identity(30, format="csr"), symmetric=True)  # 30 is no square
    assert not DCDMMethod(str(path)).applicable(A24, symmetric=True)  # the default stays strict
    with pytest.raises(ConfigurationError, match="any_size"):
        DCDMMethod(str(path)).setup(A24, None)
    for A, b, n in ((A24, b24, 24), (A12, b12, 12)):
        prep = meth.setup(A, None)
        assert prep.n == n and prep.direction.grid_shape == (n, n)
        # the direction really is the saved network evaluated on the n x n grid
        r = np.random.default_rng(n).standard_normal(n * n)
        r[solid_rows(A)] = 0.0
        images, solid = grid_features(A, (n, n))
        with torch.inference_mode():
            ref = apply_network(model, torch.from_numpy(r.astype(np.float32).reshape(1, n, n)),
                                torch.from_numpy(images),
                                torch.from_numpy((~solid).astype(np.float32).reshape(n, n)))
        d = prep.direction(r)
        np.testing.assert_allclose(d / np.linalg.norm(d), ref.reshape(-1).numpy().astype(np.float64)
                                   / float(torch.linalg.norm(ref)), atol=1e-5)
        for variant in ("dcdm", "fcg"):
            res = DCDMMethod(str(path), variant, any_size=True).solve(
                prep, A, b, np.zeros(n * n), rtol=RTOL, atol=0.0, maxiter=300)
            check_contract(A, b, res)
    with pytest.raises(ConfigurationError):
        meth.setup(sp.csr_array(sp.random_array((30, 30), density=0.2, rng=0)
                                + sp.identity(30)), None)

    # model_path=None: the packaged model for n if any, else the nearest packaged size
    monkeypatch.delenv("SEQSOLVE_DCDM_MODEL", raising=False)
    packaged = tmp_path / "pretrained"
    packaged.mkdir()
    monkeypatch.setattr(dcdm_module, "MODEL_DIR", str(packaged))
    assert dcdm_module.packaged_models() == {}
    assert not DCDMMethod(None, any_size=True).applicable(A24, symmetric=True)
    save_model(net(16), packaged / "dcdm_fluid2d_n16.sqnn")
    save_model(net(48), packaged / "dcdm_fluid2d_n48.sqnn")
    (packaged / "dcdm_fluid2d_nXX.sqnn").write_bytes(b"ignored: not a size")
    assert sorted(dcdm_module.packaged_models()) == [16, 48]
    auto = DCDMMethod(None, any_size=True)
    assert not DCDMMethod(None).applicable(A24, symmetric=True)
    assert auto.applicable(A24, symmetric=True)
    assert auto.setup(A24, None).path.endswith("dcdm_fluid2d_n16.sqnn")  # 24/16 < 48/24
    A40, _ = obstacle_system(40, seed=23)
    assert auto.setup(A40, None).path.endswith("dcdm_fluid2d_n48.sqnn")
    assert auto.setup(A12, None).path.endswith("dcdm_fluid2d_n16.sqnn")
    monkeypatch.setenv("SEQSOLVE_DCDM_MODEL", str(path))  # the environment variable wins
    assert auto.setup(A40, None).path == str(path)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_a_short_training_run_beats_cg_in_iterations(tmp_path):
    n = 32
    rep = train(n, minutes=1.0, out=str(tmp_path / "m.sqnn"), seed=0, device="cpu",
                progress=False, checkpoint_every=None)
    model = load_model(tmp_path / "m.sqnn", expected_n=n, device="cpu")
    A, b = fluid_system(n, steps=5, seed=12345)
    res = dcdm(A, b, model=model, grid_shape=(n, n), rtol=RTOL, maxiter=300)
    check_contract(A, b, res)
    assert res.status == "converged"
    assert res.iterations < cg_iterations(A, b) / 2
    assert rep.best_mean_iterations < np.mean(rep.cg_iterations) / 2


# ----------------------------------------------------------------------------- learned V-cycle
from seqsolve.neural.multigrid import VCycleNet, stencil_from_matrix  # noqa: E402
from seqsolve.neural.vcycle_training import train_vcycle, vcycle_loss  # noqa: E402


def vnet(seed: int = 0, **kw) -> VCycleNet:
    torch.manual_seed(seed)
    return VCycleNet(32, **kw).eval()


def test_vcycle_stencil_hierarchy_and_symmetry():
    n = 20  # not a power of two: coarsening pads
    A, _ = obstacle_system(n, seed=11)
    c, e, s = stencil_from_matrix(A, (n, n))
    fluid = ~solid_rows(A)
    assert np.array_equal(c.reshape(-1) > 0, fluid)
    bound = vnet().bind(A, (n, n))
    assert [lvl["shape"] for lvl in bound.levels] == [(20, 20), (10, 10), (5, 5)]
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, n * n)) * fluid
    Mu, Mv = bound(u), bound(v)
    assert abs(u @ Mv - v @ Mu) <= 1e-5 * abs(u @ Mv)  # symmetric up to float32 rounding
    assert u @ Mu > 0 and v @ Mv > 0
    assert np.all(Mu[~fluid] == 0)
    with pytest.raises(ValueError):
        stencil_from_matrix(sp.csr_array(np.ones((16, 16))), (4, 4))


def test_vcycle_training_lowers_the_loss():
    data = [(16,) + tuple(torch.from_numpy(a.astype(np.float32))
                          for a in stencil_from_matrix(obstacle_system(16, seed=k)[0], (16, 16))) for k in (1, 2)]
    m = vnet().train()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)

    def loss():
        return sum(vcycle_loss(m, c, e, s, batch=2, gen=torch.Generator().manual_seed(1)) for _, c, e, s in data)

    with torch.no_grad():
        before = float(loss())
    for _ in range(12):
        opt.zero_grad()
        val = loss()
        val.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss())
    assert after < before - 0.3, (before, after)


def test_vcycle_trained_small_solves_a_larger_grid(tmp_path):
    """Size transfer: trained on 16 and 32 for a few seconds, it solves n=64 in a handful of steps."""
    rep = train_vcycle(sizes=(16, 32), minutes=1.0, max_steps=40, out=str(tmp_path / "v.sqnn"), per_size=3,
                       validation_sizes=(32,), validation_count=1, log=None)
    assert rep.steps == 40 and rep.validation
    m = load_model(tmp_path / "v.sqnn", device="cpu")
    assert isinstance(m, VCycleNet) and read_metadata(tmp_path / "v.sqnn")["training"]["sizes"] == [16, 32]
    n = 64
    A, b = fluid_system(n, steps=2)
    res = dcdm(A, b, model=m, grid_shape=(n, n), rtol=RTOL, maxiter=100, n_orth=4)
    check_contract(A, b, res)
    assert res.status == "converged" and res.iterations <= 20 < cg_iterations(A, b) / 10


def test_vcycle_file_round_trip_and_bounds(tmp_path):
    m = vnet(3)
    path = save_model(m, tmp_path / "v.sqnn", {"note": "x"})
    m2 = load_model(path, device="cpu")
    assert m2.config() == m.config() and isinstance(m2, VCycleNet)
    A, b = obstacle_system(24, seed=4)
    np.testing.assert_array_equal(m.bind(A, (24, 24))(b), m2.bind(A, (24, 24))(b))
    assert os.path.getsize(path) < 120_000
    raw = open(path, "rb").read()
    hlen = int.from_bytes(raw[len(MAGIC):len(MAGIC) + 8], "little")
    header = json.loads(raw[len(MAGIC) + 8:len(MAGIC) + 8 + hlen])
    for key, value in (("hidden", 10 ** 6), ("smoothing_steps", 10 ** 4), ("coarsest", 0), ("width", 4)):
        bad = json.loads(json.dumps(header))
        bad["architecture"]["config"][key] = value
        hb = json.dumps(bad).encode()
        (tmp_path / "bad.sqnn").write_bytes(MAGIC + len(hb).to_bytes(8, "little") + hb + raw[len(MAGIC) + 8 + hlen:])
        with pytest.raises(StateFileError):
            load_model(tmp_path / "bad.sqnn", device="cpu")
    rng = np.random.default_rng(0)
    for k in range(20):  # any bytes: a clean error, never a crash or a huge allocation
        (tmp_path / "junk.sqnn").write_bytes(MAGIC + rng.bytes(int(rng.integers(0, 300))))
        with pytest.raises(StateFileError):
            load_model(tmp_path / "junk.sqnn", device="cpu")


def test_useless_vcycle_falls_back(tmp_path, monkeypatch):
    """A V-cycle whose weights are all ~0 gives no usable direction: DCDM says so, and the
    sequence solver's fallback still returns a certified solution."""
    from seqsolve.solver import SequenceSolver

    m = vnet()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.conv2.bias.fill_(-200.0)  # softplus underflows to 0 in float32: the map is zero
        m.coarse_weight.fill_(-200.0)
    n = 24
    A, b = obstacle_system(n, seed=9)
    res = dcdm(A, b, model=m, grid_shape=(n, n), rtol=RTOL, maxiter=300)
    assert res.status == "breakdown" and res.iterations == 0
    check_contract(A, b, res)
    monkeypatch.setenv("SEQSOLVE_DCDM_MODEL", str(save_model(m, tmp_path / "useless.sqnn")))
    solver = SequenceSolver(rtol=RTOL, policy="fixed:dcdm", fallback=True)
    x = solver.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= RTOL * np.linalg.norm(b)
    assert solver.history[-1].configuration != "dcdm" or solver.history[-1].fallback
