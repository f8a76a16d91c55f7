"""Configuration names: parsing, round trips, the portfolio and its ω grid, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqsolve
from seqsolve.backends import ScipyBackend
from seqsolve.configs import KINDS, OMEGA_GRID, Configuration, parse, portfolio
from seqsolve.errors import ConfigurationError

ISSUE_NAMES = ["cg", "jacobi-cg", "ssor-cg(omega=1.6)", "sor(omega=1.8)", "amg-cg(rebuild)", "amg-cg(reuse)",
               "direct", "gmres", "gmres(ilu)", "bicgstab", "bicgstab(ilu)"]


@pytest.mark.parametrize("compiled", [True, False])
def test_every_portfolio_name_round_trips(compiled):
    configs = portfolio(compiled=compiled)
    for c in configs:
        assert isinstance(c.name, str) and c.name == str(c)
        p = parse(c.name)
        assert p == c, (c.name, p)
        assert hash(p) == hash(c)
        assert p.name == c.name
    assert len(set(configs)) == len(configs)  # no duplicates
    assert any(c.kind.startswith("numba-") for c in configs) is compiled


def test_public_configs_lists_the_issue_names():
    names = seqsolve.configs()
    assert names == [c.name for c in portfolio()]
    assert len(names) == len(set(names))
    for n in ISSUE_NAMES:
        assert n in names, n
    for n in names:
        assert parse(n).name == n


def test_omega_grid_is_linspace_1_to_1_95():
    assert len(OMEGA_GRID) == 20
    np.testing.assert_allclose(OMEGA_GRID, np.linspace(1.0, 1.95, 20), rtol=0, atol=1e-12)
    for kind in ("ssor-cg", "sor"):
        omegas = [c.get("omega") for c in portfolio() if c.kind == kind]
        np.testing.assert_allclose(omegas, np.linspace(1.0, 1.95, 20), rtol=0, atol=1e-12)


def test_portfolio_options():
    small = portfolio(omegas=[1.5], compiled=False)
    assert [c.name for c in small if c.kind in ("ssor-cg", "sor")] == ["ssor-cg(omega=1.5)", "sor(omega=1.5)"]
    assert not any(c.kind.startswith("numba") for c in small)


def test_equivalent_spellings_parse_to_the_same_configuration():
    assert parse("sor(omega=1.80)") == parse("sor(omega=1.8)") == parse(" sor( omega = 1.8 ) ")
    assert parse("ssor-cg(1.6)") == parse("ssor-cg(omega=1.6)")
    assert parse("amg-cg") == parse("amg-cg(rebuild)") == parse("amg-cg(setup=rebuild)")
    assert parse("amg-cg(reuse)") == parse("amg-cg(setup=reuse)") != parse("amg-cg")
    assert parse("gmres") == parse("gmres(none)") == parse("gmres()")
    assert parse("gmres").name == "gmres" and parse("gmres(ilu)").name == "gmres(ilu)"
    assert parse("ssor-cg").get("omega") == 1.0
    c = parse("ssor-cg(omega=1.6)")
    assert parse(c) is c
    assert {c: 1}[Configuration("ssor-cg", (("omega", 1.6),))] == 1


def test_kind_flags():
    for name in ("cg", "jacobi-cg", "ssor-cg", "sor", "amg-cg"):
        assert KINDS[name].spd_only, name
    for name in ("direct", "gmres", "bicgstab"):
        assert not KINDS[name].spd_only, name
    assert not KINDS["cg"].needs_matrix and not KINDS["gmres"].needs_matrix
    assert KINDS["direct"].needs_matrix and KINDS["jacobi-cg"].needs_matrix


def test_scipy_backend_supports_every_portfolio_configuration():
    backend = ScipyBackend()
    for c in portfolio():
        assert backend.supports(c), c.name


def test_sorting_configurations_is_deterministic():
    configs = portfolio()
    assert sorted(configs) == sorted(reversed(configs))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", ["conjugate-gradient", "ssor", "pcg(omega=1.5)"])
def test_unknown_kind_lists_valid_kinds(bad):
    with pytest.raises(ConfigurationError) as info:
        parse(bad)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "unknown" in msg
    for k in KINDS:
        assert k in msg, k


def test_unknown_kind_in_constructor_lists_valid_kinds():
    with pytest.raises(ConfigurationError) as info:
        Configuration("nope")
    for k in KINDS:
        assert k in str(info.value)


def test_unknown_parameter_in_constructor_lists_valid_parameters():
    with pytest.raises(ConfigurationError) as info:
        Configuration("ssor-cg", (("tau", 1.0),))
    assert "tau" in str(info.value) and "omega" in str(info.value)


def test_unknown_parameter_in_name_lists_valid_parameters():
    with pytest.raises(ConfigurationError) as info:
        parse("ssor-cg(tau=1.5)")
    assert "tau" in str(info.value)
    assert "omega" in str(info.value)


@pytest.mark.parametrize("bad, fragment", [
    ("ssor-cg(omega=1.6", "malformed"),
    ("ssor-cg omega=1.6", "malformed"),
    ("SSOR-CG", "malformed"),
    ("", "malformed"),
    ("ssor-cg(omega=)", "omega"),
    ("ssor-cg(omega=x)", "omega"),
    ("ssor-cg(omega=2)", "omega"),
    ("ssor-cg(omega=-1)", "omega"),
    ("ssor-cg(omega=nan)", "omega"),
    ("amg-cg(always)", "setup"),
    ("gmres(amg)", "preconditioner"),
    ("cg(1)", "no parameters"),
    ("cg(omega=1)", "omega"),
])
def test_malformed_names(bad, fragment):
    with pytest.raises(ConfigurationError) as info:
        parse(bad)
    assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("bad", [None, 1.5, ["cg"]])
def test_non_string_name(bad):
    with pytest.raises(ConfigurationError, match="string"):
        parse(bad)


def test_parameter_given_twice_is_an_error():
    with pytest.raises(ConfigurationError):
        parse("ssor-cg(omega=1.6,omega=1.7)")


def test_any_omega_round_trips():
    c = parse("ssor-cg(omega=1.234568)")
    assert parse(c.name) == c


@given(omega=st.sampled_from(OMEGA_GRID) | st.decimals(min_value="0.01", max_value="1.99", places=2).map(float))
def test_short_omegas_round_trip(omega):
    for kind in ("ssor-cg", "sor", "numba-ssor-cg"):
        c = parse(f"{kind}(omega={omega})")
        assert c.get("omega") == pytest.approx(omega, abs=1e-12)
        assert parse(c.name) == c
