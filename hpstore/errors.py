"""The exception tree: one root, caught once at the CLI edge.

Per-file problems (``DecodeError``) are recorded in the catalog and the run goes on; the others stop the
command with a one-line message.
"""

from __future__ import annotations


class HpstoreError(Exception):
    """Root of every error hpstore raises on purpose."""


class DecodeError(HpstoreError):
    """A file could not be identified or decoded; it is recorded as ``failed`` and skipped."""


class UnsupportedFormat(DecodeError):
    """A file that is not a photo hpstore reads; recorded as ``skipped``."""


class StoreError(HpstoreError, OSError):
    """The store directory cannot be created, opened or written."""


class StoreBusy(StoreError):
    """Another ingest holds the store's writer lock."""


class Interrupted(HpstoreError):
    """The user stopped the run (Ctrl-C, SIGTERM); everything committed so far is kept."""


class CatalogError(HpstoreError):
    """The catalog database cannot be opened, migrated or written."""


class StateError(HpstoreError):
    """The Zarr state of a group is missing or inconsistent with the catalog."""


class CameraNotFound(HpstoreError, LookupError):
    """No camera in the catalog matches the given selector."""


class BadArgument(HpstoreError, ValueError):
    """A user-supplied option has a value hpstore cannot use."""


class WindowError(HpstoreError):
    """A date window cuts through a period whose photos can no longer be read again from disk."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none): third-party messages
    can run over several lines, and a problem file gets one."""
    message = err.args[0] if len(err.args) == 1 and isinstance(err.args[0], bytes) else err  # LibRaw's
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    lines = text.strip().splitlines()
    return lines[0] if lines else err.__class__.__name__
