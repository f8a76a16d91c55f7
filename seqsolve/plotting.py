"""Plots for benchmark results (matplotlib, Agg backend, atomic writes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    """Save a figure via a temp file renamed into place, then close it."""
    try:
        with atomic_path(path, suffix=Path(path).suffix) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        _figure().close(fig)


def plot_cumulative(result, path: str | os.PathLike) -> None:
    """Cumulative solver time against step, one line per policy."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(10, 5))
    colours = plt.get_cmap("tab20").colors
    runs = sorted(result.runs.items(), key=lambda kv: -sum(h.seconds for h in kv[1].history))
    for i, (name, run) in enumerate(runs):
        cum = np.cumsum([h.seconds for h in run.history])
        label = f"{name.removeprefix('fixed:')} ({cum[-1]:.3g} s)" if len(cum) else name
        ax.plot(np.arange(1, len(cum) + 1), cum, label=label, color=colours[i % 20],
                linestyle=("-", "--", ":")[(i // 20) % 3], linewidth=2.2 if not name.startswith("fixed:") else 1.4)
    p = result.problem
    ax.set_title(f"{p.get('name', '')} " + ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("name",)))
    ax.set_xlabel("step")
    ax.set_ylabel("cumulative solver time [s] (setup + iterations)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save_figure(fig, path)
