"""Natural scenes for the simulator: crops of real photographs in place of its synthetic scenes.

Synthetic scenes are smooth blobs and boxes; real photos have foliage, fine texture, specular glints and
dark corners, which is what fools a defect finder. :func:`load` reads any images Pillow opens (JPEG, PNG,
TIFF, HEIC) as sRGB ``uint8`` arrays; :func:`crop` cuts a random window of one at a random scale and
returns it as linear light, for :func:`hpstore.testing.simulator.render_mosaic` to expose like any scene.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

MAX_SIDE = 1600  # pixels: larger photos are shrunk on loading (memory; crops are far smaller anyway)
_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp"}


def load(paths: Iterable[Path | str], *, min_side: int = 200) -> list[NDArray[np.uint8]]:
    """The images under ``paths`` (files, or folders searched recursively) as ``(h, w, 3)`` sRGB arrays,
    upright; files that are not images, or smaller than ``min_side``, are skipped."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()
    out: list[NDArray[np.uint8]] = []
    for path in _files(paths):
        try:
            with Image.open(path) as image:
                upright = ImageOps.exif_transpose(image).convert("RGB")
        except (OSError, ValueError, SyntaxError):
            continue
        if min(upright.size) < min_side:
            continue
        upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
        out.append(np.asarray(upright, np.uint8))
    return out


def _files(paths: Iterable[Path | str]) -> list[Path]:
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in _SUFFIXES)
        elif item.suffix.lower() in _SUFFIXES:
            found.append(item)
    return found


def crop(scenes: Sequence[NDArray[np.uint8]], h: int, w: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """A random ``(3, h, w)`` window of one of ``scenes``, in linear light (0-1), mean 1: a random photo,
    scale (from the crop's own size up to the whole photo), place and mirror image."""
    photo = scenes[int(rng.integers(len(scenes)))]
    ph, pw = photo.shape[:2]
    fit = min(ph / h, pw / w)
    scale = float(np.exp(rng.uniform(0.0, np.log(fit)))) if fit > 1 else fit
    ch, cw = max(1, min(ph, round(h * scale))), max(1, min(pw, round(w * scale)))
    top, left = int(rng.integers(ph - ch + 1)), int(rng.integers(pw - cw + 1))
    window = Image.fromarray(photo[top : top + ch, left : left + cw]).resize((w, h), Image.Resampling.BOX)
    srgb = np.asarray(window, np.float32) / 255.0
    if rng.random() < 0.5:
        srgb = srgb[:, ::-1]
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
    linear = np.moveaxis(linear, 2, 0)
    return linear / max(float(linear.mean()), 1e-3)
