"""Heat2D (Learning to Relax) under every fixed configuration family: the README's core table.

Usage::

    python benchmarks/heat2d_portfolio.py --nx 100 --steps 5000 --out benchmarks/results

Runs each configuration over the whole sequence in one process, measures one sparse
matrix–vector product in the same run, and writes ``heat2d_portfolio_nx{N}.{md,json,png}``; the
per-step traces only with ``--traces`` (gzipped into ``benchmarks/traces/``, see ``_traces.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqsolve.bench import benchmark, format_table, save_outputs, split_policies
from seqsolve.problems import Heat2D
from seqsolve.solvers.compiled import warmup

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _traces.py sits next to this script
import _traces  # noqa: E402

DEFAULT = ("cg,jacobi-cg,ssor-cg(omega=1),ssor-cg(omega=1.5),ssor-cg(omega=1.8),"
           "numba-cg,numba-jacobi-cg,numba-ssor-cg(omega=1.5),numba-ssor-cg(omega=1.8),"
           "amg-cg(rebuild),amg-cg(reuse),amg-cg(adaptive),direct,auto")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nx", type=int, default=100)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--policies", default=DEFAULT)
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--traces", action="store_true", help="also keep per-step traces (benchmarks/traces/, gzipped)")
    a = p.parse_args(argv)
    warmup()  # numba kernels loaded before anything is timed
    result = benchmark(lambda: Heat2D(nx=a.nx, steps=a.steps), split_policies(a.policies),
                       rtol=a.rtol, progress=not a.no_progress)
    print(format_table(result))
    stem = f"heat2d_portfolio_nx{a.nx}_T{a.steps}"
    paths = save_outputs(result, a.out, stem)
    from seqsolve.provenance import provenance

    data = result.to_json()
    data["provenance"] = provenance()
    extra = _traces.save(data, a.out, stem, a.traces)  # replaces the full JSON by its summary
    _traces.shrink_png(paths["plot"])
    print("wrote", *paths.values(), *extra[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
