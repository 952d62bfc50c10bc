"""A PNG chart of a camera's defect timeline, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from hpstore.errors import StoreError

COLOURS = {
    "hot": (214, 39, 40),
    "warm": (255, 127, 14),
    "stuck": (148, 103, 189),
    "dead": (31, 31, 31),
    "partial": (31, 119, 180),
    "dim": (127, 127, 127),
    "noisy": (188, 189, 34),
    "bad_column": (23, 190, 207),
    "bad_row": (140, 86, 75),
}
_WIDTH, _HEIGHT = 960, 480
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 150, 40, 70


def plot_timeline(timeline: dict[str, Any], path: Path) -> None:
    """Stacked bars of the defects present per period, by class, with new defects marked above each bar."""
    rows = timeline["periods"]
    image = Image.new("RGB", (_WIDTH, _HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    title = f"{timeline['camera']} {timeline['source']} {timeline['geometry']}: defects present per period"
    draw.text((_LEFT, 12), title, fill="black", font=font)
    top = max([r["present"] for r in rows] + [1])
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h
    draw.line([(_LEFT, _TOP), (_LEFT, base), (_LEFT + plot_w, base)], fill="black")
    for tick in range(0, top + 1, max(1, top // 5)):
        y = base - tick * plot_h / top
        draw.line([(_LEFT - 4, y), (_LEFT, y)], fill="black")
        draw.text((_LEFT - 8, y), str(tick), fill="black", font=font, anchor="rm")
    slot = plot_w / max(len(rows), 1)
    every = max(1, len(rows) // 16)  # label at most 16 periods
    for i, r in enumerate(rows):
        x0, x1 = _LEFT + i * slot + slot * 0.15, _LEFT + (i + 1) * slot - slot * 0.15
        y = float(base)
        for kind, count in sorted(r["by_class"].items()):
            h = count * plot_h / top
            draw.rectangle([x0, y - h, x1, y], fill=COLOURS.get(kind, (100, 100, 100)))
            y -= h
        if r["new"]:
            draw.text(((x0 + x1) / 2, y - 4), f"+{r['new']}", fill="black", font=font, anchor="mb")
        if i % every == 0:
            draw.text(((x0 + x1) / 2, base + 6), r["period"], fill="black", font=font, anchor="ma")
    kinds = sorted({k for r in rows for k in r["by_class"]})
    legend = _WIDTH - _RIGHT + 20
    for j, kind in enumerate(kinds):
        y = _TOP + 18 * j
        draw.rectangle([legend, y, legend + 12, y + 12], fill=COLOURS.get(kind, (100, 100, 100)))
        draw.text((legend + 20, y), kind, fill="black", font=font)
    rate = timeline["new_per_year_per_megapixel"]
    note = f"{timeline['defects']} defects, {timeline['at_start']} from the start; new: {rate:.3g} per year per MP"
    draw.text((_LEFT, _HEIGHT - 24), note, fill="black", font=font)
    try:
        image.save(path, format="PNG")
    except OSError as err:
        raise StoreError(f"cannot write chart {path}: {err.strerror or err}") from err
