"""``auto``'s per-call bookkeeping keeps a few caches (issue 8): each must give what a fresh
computation gives, however the sequence changes the state it was made from."""

from __future__ import annotations

import math

from seqsolve import SequenceSolver
from seqsolve.configs import parse
from seqsolve.policies import AutoPolicy
from seqsolve.policies.priors import setup_kind as _setup_kind
from seqsolve.policies.base import SystemFacts
from seqsolve.problems import suite
from seqsolve.records import SolveRecord


def _record(name: str, iterations: int, solve: float, setup: float = 0.0, reused: bool = False) -> SolveRecord:
    return SolveRecord(index=0, configuration=name, iterations=iterations, setup_seconds=setup,
                       solve_seconds=solve, residual=1e-9, converged=True, setup_reused=reused)


def _known_afresh(p: AutoPolicy, b: tuple, names: set[str]) -> dict[str, list]:
    """What ``_known`` returned before it was made leaner: each entry charged on its own."""
    out = {}
    for k, v in p.stats_.get(b, {}).items():
        if k in names:
            mean = p._mean(b, k)
            if k in p._factor_names:
                mean = p._charged(k, mean, k in p._ready())
            out[k] = [mean, v[1], v[2], v[3]]
    return out


def test_get_or_reads_a_parameter_or_the_default():
    c = parse("numba-ssor-cg(omega=1.3)")
    assert c.get_or("omega") == 1.3 and c.get_or("setup") is None and c.get_or("setup", "x") == "x"
    assert parse("amg-cg(adaptive)").get_or("setup") == "adaptive"
    assert parse("gmres(ilu)").get_or("preconditioner") == "ilu"


def test_per_name_facts_match_the_configurations():
    p = AutoPolicy()
    assert set(p._kind_of) == set(p._setup_kind_of) == set(p._setup_of) == set(p._by_name)
    for name, c in p._by_name.items():
        assert p._kind_of[name] == c.kind
        assert p._setup_kind_of[name] == _setup_kind(c)
        assert p._setup_of[name] == c.get_or("setup")


def test_bin_size_follows_a_changing_size():
    """The size class of the last ``n`` is kept: a different ``n`` (or none) must not reuse it."""
    p = AutoPolicy()
    for n in (1000, 1000, 4096, 1000, None, 0, 3, 1 << 20, 1000):
        expected = int(round(math.log2(n))) if n else 0
        assert p._bin(None, n) == (expected, None)
        assert p._bin({"t": 0.5}, n)[0] == expected


def test_family_names_follow_the_arms():
    """``_arm_family_names`` is rebuilt whenever the solver passes another list of arms."""
    p = AutoPolicy()
    first = [c for c in p.candidates_list if c.kind in ("numba-cg", "numba-ssor-cg")]
    second = [c for c in p.candidates_list if c.kind in ("numba-cg", "bicgstab", "direct")]
    for arms in (first, second, first):
        p.observe(SystemFacts(1000))
        c = p.select(None, allowed=arms, n=1000)
        p.update(1e-3, _record(c.name, 10, 1e-3))
        assert p._arm_family_names == {f: frozenset(m.name for m in members)
                                       for f, members in p._arm_families.items()}
        assert set().union(*p._arm_family_names.values()) == {c.name for c in arms}


def test_known_and_lowest_match_a_fresh_computation():
    """Along a real sequence (rescaled speeds, inherited bins, a factorisation charged its setup),
    the leaner ``_known`` and ``_lowest`` give exactly the estimates computed entry by entry."""
    problem = suite()["fem-heat"].make("test")
    solver = SequenceSolver(policy="auto", seed=1)
    p = solver._policy
    checked = 0
    for _ in range(min(40, problem.steps)):
        system = problem.system()
        problem.accept(solver.solve(system.A, system.b, context=system.context))
        for b in p.stats_:
            names = set(p._by_name)
            assert p._known(b, names) == _known_afresh(p, b, names)
            p._lowest_memo = {}
            lowest = p._lowest(b)
            entries = p.stats_[b]
            assert lowest == (min(p._charged(k, p._mean(b, k)) for k in entries) if entries else None)
            checked += 1
    p._lowest_memo = {}
    assert checked > 40


def test_known_charges_a_factorisation_as_before():
    """A factorisation's estimate in ``known`` is its solve plus its shared setup unless it is built
    for the matrix at hand (``ready``): runs of five repeats of one matrix, scripted costs."""
    ssor, direct = "numba-ssor-cg(omega=1.5)", "direct"
    p = AutoPolicy(candidates=[ssor, direct], seed=0)
    built_for, charged = None, 0
    for t in range(40):
        matrix = t // 5
        ready = frozenset({direct}) if built_for == matrix else frozenset()
        p.observe(SystemFacts(1000, repeated=t % 5 != 0, ready=ready))
        # (the first system offers LU alone: its estimate exists from then on)
        c = p.select(None, allowed=[p._by_name[direct]] if t == 0 else None, n=1000).name
        b = p._bin_now
        names = set(p._by_name)
        known = p._known(b, names)
        assert known == _known_afresh(p, b, names)
        charged += direct in known and direct not in ready
        if c == direct:
            rec = _record(c, 0, 0.008, setup=0.0 if built_for == matrix else 0.25, reused=built_for == matrix)
            built_for = matrix
        else:
            rec = _record(c, 100, 0.035)
        p.update(rec.seconds, rec)
    assert charged > 0  # the charged branch ran
