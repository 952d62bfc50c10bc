"""Fault injection for crash tests: ``HPSTORE_CRASH_AT=name:count`` kills the process (SIGKILL) the
``count``-th time it reaches the checkpoint ``name``. Unset (always, outside tests) it costs one dict lookup.

Checkpoints, in the order a commit passes them: ``decoded`` (a file decoded), ``folded`` (a batch folded),
``state-array`` (inside a state write, after each half of its chunks), ``state-written``, ``catalog-open``
(inside the catalog transaction, before it commits), ``catalog-committed``, ``old-dropped``. A Dask
worker of ``ingest --dask`` passes ``worker-decoded`` after each file it decodes. With ``HPSTORE_CRASH_ONCE``
naming a file, only the first process to reach the point dies (it creates the file): one worker of a
cluster, whose restarted successor then works on.
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
        once = os.environ.get("HPSTORE_CRASH_ONCE")
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return  # another process died here already
        os.kill(os.getpid(), signal.SIGKILL)
