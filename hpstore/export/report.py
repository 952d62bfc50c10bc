"""A camera's defects on one self-contained HTML page: the sensor with each defect placed, a close-up of each
from a photo where it stood out, its history and the sensor's timeline. Every image is embedded (PNG data
URIs, inline SVG): the page opens offline, mailed or archived."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from hpstore.commands.chart import COLOURS as CHART_COLOURS
from hpstore.commands.choose import camera_label, one_camera
from hpstore.errors import BadArgument, HpstoreError, WindowError
from hpstore.store.catalog import Camera, Group
from hpstore.store.storage import Storage
from hpstore.timeaxis.families import read_frame
from hpstore.types import Defect, PixelPeriod, Source

if TYPE_CHECKING:
    from hpstore.api import Store

# The timeline chart's colours, as CSS
COLOURS = {kind: "#{:02x}{:02x}{:02x}".format(*rgb) for kind, rgb in CHART_COLOURS.items()}
MAP_WIDTH = 900  # pixels of the sensor drawing
CLOSE = 6  # close-up: this many same-colour samples each side of the defect
CONTEXT = 40  # neighbourhood: this many pixels each side
CROPS = 24  # defects shown with crops and history


@dataclass(frozen=True)
class Report:
    """What ``report`` made: the page, the sensor map as a PNG, and what they show."""

    html: str
    png: str  # the sensor map, a PNG data URI
    camera: str
    source: str
    defects: int
    crops: int


def _png(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def sensor_svg(defects: Sequence[Defect], width: int, height: int) -> str:
    """The sensor outline with each defect placed: a dot per photosite defect, sized by score and coloured by
    class, a line per bad column or row."""
    scale = MAP_WIDTH / width
    w, h = MAP_WIDTH, max(1, round(height * scale))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="sensor map">',
        f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" fill="#f4f4f4" stroke="#333"/>',
    ]
    for d in defects:
        colour = COLOURS.get(d.kind, "#000")
        tip = html.escape(f"{d.kind} at row {d.row}, col {d.col}: score {d.score:.1f}")
        if d.row is not None and d.col is not None:
            radius = 3 + min(9.0, np.log2(1 + d.score / 6))
            x, y = (d.col + 0.5) * scale, (d.row + 0.5) * scale
            parts.append(
                f'<circle class="defect" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" '
                f'fill-opacity="0.75" stroke="#000"><title>{tip}</title></circle>'
            )
        elif d.col is not None:
            x = (d.col + 0.5) * scale
            parts.append(f'<line class="line" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h}" stroke="{colour}" '
                         f'stroke-width="2"><title>{tip}</title></line>')  # fmt: skip
        elif d.row is not None:
            y = (d.row + 0.5) * scale
            parts.append(f'<line class="line" x1="0" y1="{y:.1f}" x2="{w}" y2="{y:.1f}" stroke="{colour}" '
                         f'stroke-width="2"><title>{tip}</title></line>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def sensor_png(defects: Sequence[Defect], width: int, height: int) -> Image.Image:
    """The same map as :func:`sensor_svg`, as a picture."""
    scale = MAP_WIDTH / width
    w, h = MAP_WIDTH, max(1, round(height * scale))
    image = Image.new("RGB", (w, h), "#f4f4f4")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w - 1, h - 1), outline="#333333")
    for d in defects:
        colour = COLOURS.get(d.kind, "#000000")
        if d.row is not None and d.col is not None:
            radius = 3 + min(9.0, float(np.log2(1 + d.score / 6)))
            x, y = (d.col + 0.5) * scale, (d.row + 0.5) * scale
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline="#000000")
        elif d.col is not None:
            x = (d.col + 0.5) * scale
            draw.line((x, 0, x, h), fill=colour, width=2)
        elif d.row is not None:
            y = (d.row + 0.5) * scale
            draw.line((0, y, w, y), fill=colour, width=2)
    return image


def _stretch(values: np.ndarray) -> np.ndarray:
    """8-bit display of a crop, from its 1st to its 99th percentile (the defect itself may clip)."""
    lo, hi = np.percentile(values, [1, 99])
    return np.clip((values.astype(float) - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)


def crops(frame: np.ndarray, row: int, col: int, raw: bool) -> tuple[Image.Image, Image.Image]:
    """(close-up, neighbourhood) of a defect in one photo. RAW: the samples of the defect's own CFA colour
    (every second row and column), enlarged; developed images: the pixels themselves. The neighbourhood
    marks the defect with a box."""
    h, w = frame.shape[:2]
    step = 2 if raw else 1
    ys = np.arange(row - CLOSE * step, row + CLOSE * step + 1, step)
    xs = np.arange(col - CLOSE * step, col + CLOSE * step + 1, step)
    ys, xs = ys[(ys >= 0) & (ys < h)], xs[(xs >= 0) & (xs < w)]
    close = frame[np.ix_(ys, xs)]
    close = _stretch(close[..., 0]) if raw else close.astype(np.uint8)
    zoom = 16
    near = Image.fromarray(close).resize((close.shape[1] * zoom, close.shape[0] * zoom), Image.Resampling.NEAREST)
    y0, y1 = max(row - CONTEXT, 0), min(row + CONTEXT + 1, h)
    x0, x1 = max(col - CONTEXT, 0), min(col + CONTEXT + 1, w)
    context = frame[y0:y1, x0:x1]
    context = _stretch(context[..., 0]) if raw else context.astype(np.uint8)
    big = Image.fromarray(context).convert("RGB").resize((context.shape[1] * 4, context.shape[0] * 4))
    draw = ImageDraw.Draw(big)
    cy, cx = (row - y0) * 4 + 2, (col - x0) * 4 + 2
    draw.rectangle((cx - 10, cy - 10, cx + 10, cy + 10), outline="#ff0000", width=2)
    return near, big


def _history_svg(periods: Sequence[PixelPeriod]) -> str:
    """Bars: in how many of each period's photos the pixel stood out (dark) of its photos (light)."""
    if not periods:
        return "<p>no photos</p>"
    top = max(p.photos for p in periods) or 1
    bar, gap, height = 18, 6, 60
    width = len(periods) * (bar + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}">']
    for i, p in enumerate(periods):
        x = gap + i * (bar + gap)
        total, seen = height * p.photos / top, height * p.stood_out / top
        parts.append(f'<rect x="{x}" y="{height - total:.1f}" width="{bar}" height="{total:.1f}" fill="#ccc"/>')
        tip = html.escape(f"{p.period}: {p.stood_out} of {p.photos} photos")
        shape = f'x="{x}" y="{height - seen:.1f}" width="{bar}" height="{seen:.1f}"'
        parts.append(f'<rect {shape} fill="#c33"><title>{tip}</title></rect>')
        parts.append(f'<text x="{x}" y="{height + 12}" font-size="8">{html.escape(p.period[-5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report(
    store: Store,
    camera: str,
    *,
    source: str | None = None,
    top: int = 1000,
    min_confidence: float = 0.5,
    shown: int = CROPS,
) -> Report:
    """The page for one camera and source (RAW when it has any)."""
    with Storage(store.settings, create=False) as storage:
        cam = one_camera(storage, camera)
        groups = {g.id: g for g in storage.catalog.groups([cam.id])}
        sources = {g.source for g in groups.values()}
        source = source or (Source.RAW.value if Source.RAW.value in sources else Source.RGB.value)
        label = camera_label(cam)
        sizes = [(g.width, g.height) for g in groups.values() if g.source == source]
        if not sizes:
            raise BadArgument(f"camera {label} has no {source} photos")
        width, height = max(sizes)  # the full sensor: the page maps its defects (smaller sizes are crops)
        found = store.query(camera=str(cam.id), source=source, top=top, min_confidence=min_confidence)
        defects = [d for d in found if not d.extended and d.geometry == f"{width}x{height}"]
        sections = [_defect_section(store, storage, cam, d, groups) for d in defects[:shown]]
    name = html.escape(" ".join(x for x in (cam.make, cam.model) if x) or "camera") + f" ({html.escape(label)})"
    drawing = sensor_svg(defects, width, height)
    png = _png(sensor_png(defects, width, height))
    if not defects:
        drawing += "<p>No defects: the sensor is clean at these settings.</p>"
    timeline = _timeline_img(store, cam, source)
    legend = " ".join(f'<span style="color:{c}">&#9679;</span> {k.replace("_", " ")}' for k, c in COLOURS.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hpstore: {name}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} .defect-card{{border-top:1px solid #ccc;
padding:1em 0}} .crops img{{margin-right:1em;image-rendering:pixelated;vertical-align:top}}
table{{border-collapse:collapse}} td,th{{padding:2px 8px;text-align:right}}</style></head><body>
<h1>Sensor defects of {name}</h1>
<p>{len(defects)} defects in the {html.escape(source)} photos (confidence at least {min_confidence:g}).
Coordinates are (row, col) of the stored array, from the top left, EXIF orientation not applied.</p>
<h2>The sensor</h2><div class="sensor">{drawing}</div><p>{legend}</p>
<h2>Timeline</h2>{timeline}
<h2>Each defect</h2>{"".join(sections) or "<p>none</p>"}
</body></html>
"""
    return Report(page, png, label, source, len(defects), len(sections))


def _timeline_img(store: Store, cam: Camera, source: str) -> str:
    from hpstore.commands.chart import plot_timeline

    try:
        found = store.timeline(str(cam.id), source=source)
    except HpstoreError as err:
        return f"<p>No timeline: {html.escape(str(err))}</p>"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timeline.png"
        plot_timeline(found.to_dict(), path)
        with Image.open(path) as image:
            return f'<img alt="defects present per period" src="{_png(image)}">'


def _defect_section(store: Store, storage: Storage, cam: Camera, d: Defect, groups: dict[int, Group]) -> str:
    where = f"row {d.row}, col {d.col}" if d.row is not None and d.col is not None else (
        f"column {d.col}" if d.col is not None else f"row {d.row}")  # fmt: skip
    facts = (
        f"<b>{html.escape(d.kind)}</b> at {where} ({html.escape(d.channel)}): score {d.score:.1f}, "
        f"confidence {d.confidence:.2f}, first seen {d.first_seen or 'undated'}, last seen {d.last_seen or '-'}"
    )
    images = ""
    if d.row is not None and d.col is not None:
        images = _crops_html(storage, d, groups)
    history = ""
    if d.row is not None and d.col is not None:
        try:
            periods = store.history(str(cam.id), (d.row, d.col), source=d.source)
        except HpstoreError as err:
            history = f"<p>No history: {html.escape(str(err))}</p>"
        else:
            history = "<p>Photos per period in which it stood out:</p>" + _history_svg(periods)
    return f'<div class="defect-card"><p>{facts}</p>{images}{history}</div>'


def _crops_html(storage: Storage, d: Defect, groups: dict[int, Group]) -> str:
    """Close-up and neighbourhood from the photo where it last stood out (else the latest one)."""
    assert d.row is not None and d.col is not None
    ids = [g for g in d.groups if g in groups]
    photos = storage.catalog.photos(ids) if ids else []
    if not photos:
        return "<p>No photo to show it.</p>"
    photos.sort(key=lambda p: (p.capture_time == d.last_seen, p.capture_time or dt.datetime.min), reverse=True)
    for photo in photos[:3]:
        group = groups[photo.group_id or 0]
        try:
            frame = read_frame(photo, (group.height, group.width, group.channels))
        except WindowError:
            continue
        near, context = crops(frame, d.row, d.col, d.source == Source.RAW)
        what = "its CFA colour's samples" if d.source == Source.RAW else "the developed pixels"
        return (
            f'<div class="crops"><img alt="close-up" src="{_png(near)}"><img alt="neighbourhood" '
            f'src="{_png(context)}"></div><p>From {html.escape(Path(photo.path).name)} '
            f"({photo.capture_time or 'undated'}): {what}, and its neighbourhood.</p>"
        )
    return "<p>Its photos cannot be read again (moved or changed).</p>"
