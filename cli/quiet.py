"""Keep what other libraries print off the terminal: hpstore says one line per problem file itself.

Without ``--debug``:
- Python warnings (Pillow's "Corrupt EXIF data", numpy's RuntimeWarnings) are ignored;
- log records (tifffile logs every odd tag it skips, astropy its header fixes) are dropped;
- what C libraries write to file descriptor 2 themselves (LibRaw's "Unexpected end of file") goes to a
  scratch file, while hpstore's own messages and progress bar still reach the terminal.

With ``--debug`` all of it is shown, the log records and warnings with the name of their source.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress


@contextmanager
def third_party_output(debug: bool) -> Iterator[None]:
    """Route third-party warnings, log records and native stderr as described above, for the block."""
    root = logging.getLogger()
    handler: logging.Handler
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(levelname)s: %(message)s"))
    else:
        handler = logging.NullHandler()  # and no "last resort" handler printing records to stderr
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always" if debug else "ignore")
            if debug:
                yield
            else:
                with _native_stderr_aside():
                    yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)


@contextmanager
def _native_stderr_aside() -> Iterator[None]:
    """Point file descriptor 2 at a scratch file; ``sys.stderr`` keeps writing where it wrote."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no descriptor 2 (an embedding host): nothing to set aside
        return
    original = sys.stderr
    own: io.TextIOWrapper | None = None
    if _writes_to_fd2(original):
        own = io.TextIOWrapper(
            os.fdopen(os.dup(saved), "wb", buffering=0), encoding=getattr(original, "encoding", None) or "utf-8",
            errors="backslashreplace", line_buffering=True,
        )  # fmt: skip
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        if own is not None:
            sys.stderr = own
        try:
            yield
        finally:
            if own is not None:
                with suppress(OSError, ValueError):
                    own.flush()
                sys.stderr = original
                own.close()
            os.dup2(saved, 2)
            os.close(saved)


def _writes_to_fd2(stream: object) -> bool:
    """Whether a text stream writes to descriptor 2 (not, say, a test runner's buffer)."""
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
