"""The garbage collector between timed solves, not inside them.

Why: a full collection of a benchmark process that holds every method's solver and history took
20–90 ms, and with a seeded order it fell on the same method's same system in every run (the
workload suite's first 3-D heat solve by ``auto``: 2.4–2.75x that workload's whole ratio).  Every
timed loop turns automatic collection off and collects, untimed, every ``every`` systems.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def untimed_collections(every: int = 16) -> Iterator[Callable[[int], None]]:
    """Automatic collection off inside the block; call the yielded ``between(k)`` before timing
    system ``k``: it collects (untimed) every ``every`` systems."""
    def between(k: int) -> None:
        if k % every == every - 1:
            gc.collect()

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield between
    finally:
        if enabled:
            gc.enable()
