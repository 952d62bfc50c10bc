"""Turn the user's PATH arguments (files, directories, glob patterns) into a list of files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Discovered:
    """A file to consider, or an argument that named nothing (``problem`` set)."""

    path: Path
    problem: str | None = None


def path_key(path: Path) -> str:
    """The catalog's text form of an absolute path, which output shows: bytes that are not UTF-8 appear as
    ``\\xNN`` (the catalog keeps such a path's bytes too, see :func:`path_bytes`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_bytes(path: Path) -> bytes | None:
    """A path's bytes when its text form cannot give them back (a name that is not UTF-8), else None."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return None


def fs_path(text: str, raw: bytes | None = None) -> Path:
    """The path a catalog row names, to open the file again: from its bytes where the row keeps them."""
    return Path(os.fsdecode(raw)) if raw is not None else Path(text)


def _walk(root: Path) -> Iterator[Path]:
    # Hidden files and folders (.DS_Store, .thumbnails, .git) are never photos of the archive.
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def discover(inputs: Sequence[str | os.PathLike[str]], *, exclude: Sequence[Path] = ()) -> Iterator[Discovered]:
    """Yield every file named by ``inputs`` once, as absolute paths, in a stable order.

    Directories are walked recursively; arguments with ``*``, ``?`` or ``[`` that are not existing paths are
    glob patterns (``**`` matches across folders). Arguments that match nothing are yielded with a problem.
    Nothing in or under ``exclude`` (the store's own files, when it lies inside the archive) is yielded.
    """
    seen: set[Path] = set()
    skip = [Path(os.path.abspath(p)) for p in exclude]

    def once(path: Path) -> Iterator[Discovered]:
        path = Path(os.path.abspath(path))
        if path not in seen and not any(path.is_relative_to(p) for p in skip):
            seen.add(path)
            yield Discovered(path)

    for raw in inputs:
        arg = Path(raw).expanduser()
        if arg.is_dir():
            for path in _walk(arg):
                yield from once(path)
        elif arg.exists() or arg.is_symlink():
            yield from once(arg)
        elif glob.has_magic(str(arg)):
            matches = sorted(glob.glob(str(arg), recursive=True))
            if not matches:
                yield Discovered(Path(os.path.abspath(arg)), "no file matches this pattern")
            for match in matches:
                mpath = Path(match)
                for path in _walk(mpath) if mpath.is_dir() else [mpath]:
                    yield from once(path)
        else:
            yield Discovered(Path(os.path.abspath(arg)), "no such file or directory")
