"""Fault injection for crash tests: ``HPSTORE_CRASH_AT=name:count`` kills the process (SIGKILL) the
``count``-th time it reaches the checkpoint ``name``. Unset (always, outside tests) it costs one dict lookup.

Checkpoints, in the order a commit passes them: ``decoded`` (a file decoded), ``folded`` (a batch folded),
``state-array`` (inside a state write, after each half of its chunks), ``state-written``, ``catalog-open``
(inside the catalog transaction, before it commits), ``catalog-committed``, ``old-dropped``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_ENV = "HPSTORE_CRASH_AT"
_seen: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    target = os.environ.get(_ENV)
    if not target:
        return
    point, _, count = target.partition(":")
    if point != name:
        return
    _seen[name] += 1
    if _seen[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
