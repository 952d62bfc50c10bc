"""What a command's arguments name: cameras (by id, serial or make and model), a capture-date window, a
pixel and the part of the state that explains it."""

from __future__ import annotations

import datetime as dt

from hpstore.detect.cfa import TILE, spacing
from hpstore.errors import BadArgument, CameraNotFound
from hpstore.store.catalog import Camera, Group
from hpstore.store.storage import Storage
from hpstore.timeaxis import periods
from hpstore.timeaxis.window import Window


def camera_label(camera: Camera) -> str:
    """How output names a camera: its serial, else its catalog id."""
    return camera.serial or str(camera.id)


def select_cameras(cameras: list[Camera], selector: str | None) -> list[Camera]:
    """Cameras matching ``selector``: an id, a serial, or text found in "make model" (case-insensitive)."""
    if not selector:
        return cameras
    text = selector.strip().lower()
    exact = [c for c in cameras if str(c.id) == text or (c.serial or "").lower() == text]
    if exact:
        return exact
    found = [c for c in cameras if text in f"{c.make or ''} {c.model or ''}".lower()]
    if not found:
        known = ", ".join(
            f"{c.id}: {c.make or 'unknown'} {c.model or ''} {c.serial or ''}".strip() for c in cameras
        )
        raise CameraNotFound(f"no camera matches {selector!r} (known: {known or 'none'})")
    return found


def one_camera(store: Storage, selector: str) -> Camera:
    """The one camera ``selector`` names; an error when it names none or several."""
    found = select_cameras(store.catalog.cameras(), selector)
    if len(found) > 1:
        names = ", ".join(camera_label(c) for c in found)
        raise BadArgument(f"camera {selector!r} matches {len(found)} cameras ({names}): give a serial or id")
    return found[0]


def window_of(since: str | dt.date | None, until: str | dt.date | None) -> Window:
    """The capture-date window from ``since`` to ``until`` inclusive (``until="2021"`` or a ``date``
    includes all of that year or day; see ``periods.bound``)."""
    window = Window(periods.bound(since or None), periods.bound(until or None, end=True))
    if window.since and window.until and window.since >= window.until:
        raise BadArgument(f"since {since} is not before until {until}")
    return window


def parse_pixel(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"ROW,COL"`` or ``(row, col)`` -> (row, col), checked."""
    try:
        row, col = (int(part) for part in (text.split(",") if isinstance(text, str) else text))
    except (TypeError, ValueError) as err:
        raise BadArgument(f"a pixel is ROW,COL (two whole numbers), not {text!r}") from err
    if row < 0 or col < 0:
        raise BadArgument("pixel coordinates start at 0")
    return row, col


def pixel_window(row: int, col: int, group: Group) -> tuple[slice, slice]:
    """The rows and columns of state needed to explain one pixel with the ranking's own z-scores."""
    step, _ = spacing(group.source, group.pattern)
    return _window(row, group.height, TILE * step), _window(col, group.width, TILE * step)


def _window(index: int, size: int, span: int) -> slice:
    # The pixel's tile and one tile either side, aligned with the tiles the ranking uses, so the z-scores
    # shown are the ranking's own without reading the whole state.
    tile = index // span
    return slice(max(0, (tile - 1) * span), min(size, (tile + 2) * span))
