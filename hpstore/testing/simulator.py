"""A small, seeded camera simulator that writes real photo files with planted sensor defects.

Serves the test-suite, the benchmarks and ``hpstore demo``. A shot is rendered as a raw CFA mosaic
(uint16, (row, col) sensor coordinates, black level included) and written as a DNG and/or developed
JPEG, PNG or 16-bit TIFF. Developed images have the mosaic's size, so a defect at sensor (row, col)
appears around the same (row, col) in every format. Shot ``i`` is drawn from
``numpy.random.default_rng([seed, i])``: it renders the same however many shots are written.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import pathlib
import struct
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, TiffImagePlugin

from hpstore.testing import natural

__all__ = [
    "Archive",
    "CameraSpec",
    "Defect",
    "Shot",
    "develop",
    "plant_defects",
    "render_mosaic",
    "shot_settings",
    "write_archive",
    "write_corrupt_files",
]

ISO_SPEEDS = (100, 200, 400, 800, 1600, 3200, 6400)
FORMATS = ("dng", "jpg", "tif", "png", "heic", "fits")
DEFECT_KINDS = ("hot", "warm", "stuck", "dead", "partial", "column", "row")
WHITE_BALANCE = (2.0, 1.0, 1.5)  # R, G, B gains applied by develop()
_STRENGTHS = {"hot": (50.0, 400.0), "warm": (4.0, 20.0), "partial": (200.0, 800.0)}  # log-uniform ranges
_BAYER = ("RGGB", "BGGR", "GRBG", "GBRG")
_FULL_WELL = 60_000.0  # electrons at ISO 100; sets the photon noise
_EXIF_IFD = 0x8769


@dataclass(frozen=True)
class Defect:
    """One defective photosite in sensor (mosaic) coordinates, present from shot ``onset`` on.

    ``strength``: dark current in DN/s at ISO 100 for "hot"/"warm", a fixed raw DN offset for
    "partial", ignored for "stuck" (reads white level) and "dead" (reads at or just below black).
    "column" / "row": the whole column ``col`` / row ``row`` reads ``strength`` DN off (the other
    coordinate is ignored), as a faulty readout line does.
    """

    row: int
    col: int
    kind: str
    strength: float = 1.0
    onset: int = 0


@dataclass(frozen=True)
class CameraSpec:
    """Sensor geometry and identity of a simulated camera (``serial=None``: writes no serial).

    ``cfa="MONO"`` is a monochrome sensor (an astronomy camera): it writes FITS only.
    """

    make: str = "Simcam"
    model: str = "S1"
    serial: str | None = "SIM0001"
    height: int = 240
    width: int = 320
    cfa: str = "RGGB"
    black_level: int = 512
    white_level: int = 16383
    pixel_pitch_um: float | None = 4.0  # written as EXIF FocalPlane resolution (None: not written)
    # Where DNG and TIFF files put their directories: before the pixels, as cameras do, or after them, as
    # some converters do (TIFF allows IFDs anywhere; a reader that looks only at the file's head finds none).
    ifds_last: bool = False
    temperature: float | None = None  # sensor temperature (°C) written to FITS headers as CCD-TEMP
    # "exif": the serial in EXIF BodySerialNumber (and DNG CameraSerialNumber); "makernote": only in a Nikon
    # MakerNote (tag SerialNO, "NO= ..."), as a Nikon D70 writes it.
    serial_in: str = "exif"
    # Masked photosites around the image in DNGs, as most cameras keep them: (top, left, bottom, right), even
    # counts. Written at the black level with the DNG's ActiveArea; readers give the image without them.
    masked: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True)
class Shot:
    """One capture; ``paths`` maps format name to the file written, ``orientation`` is its EXIF tag."""

    index: int
    capture_time: datetime.datetime
    exposure_time: float
    iso: int
    paths: dict[str, pathlib.Path]
    orientation: int = 1
    dark: bool = False  # a lens-cap (dark) frame


@dataclass(frozen=True)
class Archive:
    """What :func:`write_archive` wrote: the camera, the planted defects and the shots in order."""

    camera: CameraSpec
    defects: tuple[Defect, ...]
    shots: tuple[Shot, ...]


def plant_defects(
    camera: CameraSpec,
    rng: np.random.Generator,
    *,
    hot: int = 4,
    stuck: int = 2,
    dead: int = 2,
    partial: int = 0,
    warm: int = 0,
    margin: int = 8,
    min_distance: int = 6,
) -> tuple[Defect, ...]:
    """Place defects at random, well separated positions away from the border.

    Parameters
    ----------
    camera : CameraSpec
        Sensor to place the defects on.
    rng : numpy.random.Generator
        Source of positions and strengths.
    hot, stuck, dead, partial, warm : int
        How many defects of each kind.
    margin : int
        Minimum distance in pixels from every edge.
    min_distance : int
        Minimum Chebyshev distance between two defects, so their developed spots do not touch.

    Returns
    -------
    tuple of Defect
        In the order hot, warm, stuck, dead, partial, all with ``onset=0``. Strengths are
        log-uniform: hot 50-400 DN/s, warm 4-20 DN/s, partial 200-800 DN.

    Raises
    ------
    ValueError
        If the defects do not fit on the sensor with this margin and spacing.
    """
    if camera.height <= 2 * margin or camera.width <= 2 * margin:
        raise ValueError(f"margin {margin} leaves no room on a {camera.height}x{camera.width} sensor")
    counts = {"hot": hot, "warm": warm, "stuck": stuck, "dead": dead, "partial": partial}
    defects: list[Defect] = []
    for kind in (kind for kind, count in counts.items() for _ in range(count)):
        row, col = _free_position(camera, rng, defects, margin, min_distance)
        low_high = _STRENGTHS.get(kind)
        strength = float(np.exp(rng.uniform(*np.log(low_high)))) if low_high else 1.0
        defects.append(Defect(row, col, kind, strength))
    return tuple(defects)


def _free_position(
    camera: CameraSpec, rng: np.random.Generator, taken: list[Defect], margin: int, spacing: int
) -> tuple[int, int]:
    for _ in range(10_000):
        row = int(rng.integers(margin, camera.height - margin))
        col = int(rng.integers(margin, camera.width - margin))
        if all(max(abs(row - d.row), abs(col - d.col)) >= spacing for d in taken):
            return row, col
    raise ValueError(f"cannot place {len(taken) + 1} defects {spacing} px apart on this sensor")


def render_mosaic(
    camera: CameraSpec,
    defects: Sequence[Defect],
    shot_index: int,
    exposure_time: float,
    iso: int,
    rng: np.random.Generator,
    *,
    scene_rng: np.random.Generator | None = None,
    stars: bool = False,
    dark: bool = False,
    scenes: Sequence[NDArray[np.uint8]] = (),
) -> NDArray[np.uint16]:
    """Render one raw CFA mosaic: a random scene, photon and read noise, and the active defects.

    Exposures of 1 s or longer see a night scene (mean 0.3-4 % of full scale), shorter ones a day
    scene (6-25 %); 30 % of scenes have saturated highlights. Noise assumes a 60,000 e- full well
    at ISO 100, Gaussian-approximated photon noise and a read noise growing with ISO.

    Parameters
    ----------
    camera : CameraSpec
        Sensor size, CFA, black and white level.
    defects : sequence of Defect
        Those with ``onset <= shot_index`` are applied.
    shot_index : int
        Capture-order index of this shot.
    exposure_time, iso : float, int
        Seconds and ISO speed; hot/warm defects add ``strength * exposure_time * iso / 100`` DN.
    rng : numpy.random.Generator
        Source of the noise (and of the scene, unless ``scene_rng`` is given).
    scene_rng : numpy.random.Generator, optional
        Source of the scene: shots of a burst share it, so they see the same scene.
    stars : bool
        Night scenes get 20-80 stars: white point sources blurred by the lens (Gaussian, sigma
        0.6-1.2 photosites), some bright enough to saturate.
    dark : bool
        A lens-cap dark frame: no scene at all, only noise and the defects.
    scenes : sequence of uint8 arrays
        Real photos (:func:`hpstore.testing.natural.load`): each scene is a random crop of one of them instead of a
        synthetic one.

    Returns
    -------
    numpy.ndarray
        uint16 (height, width) raw DN including the black level, clipped to [0, white_level].
    """
    channels = _cfa_channels(camera)
    for d in defects:
        if d.kind not in DEFECT_KINDS or not (0 <= d.row < camera.height and 0 <= d.col < camera.width):
            raise ValueError(f"{d} does not fit a {camera.height}x{camera.width} sensor")
    span = camera.white_level - camera.black_level
    night = exposure_time >= 1.0
    srng = rng if scene_rng is None else scene_rng
    level = np.exp(srng.uniform(np.log(0.003), np.log(0.04))) if night else srng.uniform(0.06, 0.25)
    scene = _scene(camera.height // 2, camera.width // 2, srng, float(level), srng.random() < 0.3, scenes)
    signal = np.empty((camera.height // 2, 2, camera.width // 2, 2), np.float32)
    for k, channel in enumerate(channels):
        signal[:, k // 2, :, k % 2] = scene[channel]
    mosaic = signal.reshape(camera.height, camera.width)
    if dark:
        mosaic[...] = 0.0
    elif stars and night:
        _add_stars(mosaic, channels, srng)
    mosaic *= span
    active = [d for d in defects if d.onset <= shot_index]
    for d in active:
        if d.kind in ("hot", "warm"):  # dark current, so it carries shot noise too
            mosaic[d.row, d.col] += d.strength * exposure_time * iso / 100.0
    _add_noise(mosaic, *noise_model(camera, iso), rng)
    mosaic += camera.black_level
    for d in active:
        if d.kind == "partial":
            mosaic[d.row, d.col] += d.strength
        elif d.kind == "column":
            mosaic[:, d.col] += d.strength
        elif d.kind == "row":
            mosaic[d.row, :] += d.strength
    raw = np.clip(mosaic, 0, camera.white_level).astype(np.uint16)
    for d in active:
        if d.kind == "stuck":
            raw[d.row, d.col] = camera.white_level
        elif d.kind == "dead":  # at black, with a little read noise that never lifts it above
            raw[d.row, d.col] = max(camera.black_level - int(rng.integers(0, 3)), 0)
    return raw


def noise_model(camera: CameraSpec, iso: float) -> tuple[float, float]:
    """(DN per electron, read noise in DN) of ``camera`` at ``iso``: a photosite holding ``s`` DN above
    black has a noise of ``sqrt(s * gain + read ** 2)`` DN."""
    gain = (camera.white_level - camera.black_level) / _FULL_WELL * iso / 100.0
    return gain, math.hypot(1.2, 3.0 * gain)


def _add_stars(mosaic: NDArray[np.float32], channels: list[int], rng: np.random.Generator) -> None:
    """Add white stars (fractions of full scale) to a linear mosaic, each spread by a Gaussian PSF."""
    h, w = mosaic.shape
    colour = (1.0 / np.asarray(WHITE_BALANCE, np.float32))[channels].reshape(2, 2)
    for _ in range(int(rng.integers(20, 80))):
        y, x = rng.uniform(4, h - 4), rng.uniform(4, w - 4)
        sigma, peak = rng.uniform(0.6, 1.2), float(np.exp(rng.uniform(np.log(0.02), np.log(2.0))))
        r0, c0 = int(y) - 3, int(x) - 3
        yy, xx = np.mgrid[r0 : r0 + 7, c0 : c0 + 7]
        spot = peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
        mosaic[r0 : r0 + 7, c0 : c0 + 7] += (spot * colour[yy % 2, xx % 2]).astype(np.float32)


def _add_noise(signal: NDArray[np.float32], gain: float, read_noise: float, rng: np.random.Generator) -> None:
    """Add photon noise (variance = signal * gain) and read noise to ``signal`` (DN), in place."""
    sigma = np.maximum(signal, 0.0)
    sigma *= gain
    sigma += read_noise**2
    np.sqrt(sigma, out=sigma)
    sigma *= rng.standard_normal(signal.shape, dtype=np.float32)
    signal += sigma


def _scene(
    h: int,
    w: int,
    rng: np.random.Generator,
    level: float,
    highlights: bool,
    photos: Sequence[NDArray[np.uint8]] = (),
) -> NDArray[np.float32]:
    """A random linear RGB scene (3, h, w) at half sensor resolution, mean ``level`` of full scale: a crop
    of one of ``photos`` when given, else synthetic."""
    scene = natural.crop(photos, h, w, rng) if photos else _synthetic(h, w, rng)
    # Divide out develop()'s white balance so that grey stays grey.
    scene *= (1.0 / np.asarray(WHITE_BALANCE, np.float32))[:, None, None]
    scene *= np.float32(level / scene.mean())
    for _ in range(int(rng.integers(1, 4)) if highlights else 0):
        scene[_random_box(h, w, rng, 0.08)] += np.float32(rng.uniform(1.5, 4.0))
    return scene


def _synthetic(h: int, w: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth blobs on a tilted ramp, with a few sharp-edged boxes."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)
    tilt_y, tilt_x = rng.uniform(-0.8, 0.8, 2)
    ramp = np.outer(1 + tilt_y * (y - 0.5), 1 + tilt_x * (x - 0.5))
    scene = rng.uniform(0.2, 1.0, (3, 1, 1)).astype(np.float32) * ramp
    for _ in range(int(rng.integers(2, 6))):  # soft blobs; separable, so one outer product each
        cy, cx = rng.uniform(0, 1, 2)
        sy, sx = rng.uniform(0.04, 0.3, 2)
        blob = np.outer(np.exp(-0.5 * ((y - cy) / sy) ** 2), np.exp(-0.5 * ((x - cx) / sx) ** 2))
        for channel, amp in enumerate(rng.uniform(0.0, 2.0, 3)):
            scene[channel] += np.float32(amp) * blob
    for _ in range(int(rng.integers(1, 5))):  # sharp edges
        scene[_random_box(h, w, rng, 0.4)] += rng.uniform(0.0, 1.5, (3, 1, 1)).astype(np.float32)
    return scene


def _random_box(h: int, w: int, rng: np.random.Generator, size: float) -> tuple[slice, slice, slice]:
    r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    rh, cw = rng.uniform(0.02, size, 2)
    return slice(None), slice(r0, r0 + max(1, int(rh * h))), slice(c0, c0 + max(1, int(cw * w)))


def _cfa_channels(camera: CameraSpec) -> list[int]:
    """Channel (0=R, 1=G, 2=B) of each 2x2 CFA position, row-major (a monochrome sensor sees green)."""
    if camera.cfa == "MONO":
        return [1, 1, 1, 1]
    if camera.cfa not in _BAYER:
        raise ValueError(f"unsupported CFA {camera.cfa!r}; expected one of {_BAYER}")
    if camera.height % 2 or camera.width % 2:
        raise ValueError(f"sensor size {camera.height}x{camera.width} must be even")
    return ["RGB".index(letter) for letter in camera.cfa]


def develop(mosaic: NDArray[np.uint16], camera: CameraSpec, *, bits: int = 8) -> NDArray[np.uint8 | np.uint16]:
    """Develop a raw mosaic the way a simple in-camera pipeline would.

    Black subtraction, normalisation by (white - black), bilinear demosaic, the fixed
    ``WHITE_BALANCE``, clipping and gamma 1/2.2. A lone bright photosite thus becomes a coloured
    spot spread over its 3x3 neighbourhood, as in camera JPEGs.

    Parameters
    ----------
    mosaic : numpy.ndarray
        uint16 (height, width) CFA mosaic in raw DN including the black level.
    camera : CameraSpec
        CFA pattern, black and white level.
    bits : {8, 16}
        Output depth.

    Returns
    -------
    numpy.ndarray
        (height, width, 3) RGB, uint8 or uint16, in the same (row, col) frame as the mosaic.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    channels = _cfa_channels(camera)
    lut = _gamma_lut(bits)
    # Work on the four quarter-size CFA phase planes: 4x less arithmetic than full-size shifts.
    quarters = [mosaic[k // 2 :: 2, k % 2 :: 2].astype(np.float32) for k in range(4)]
    rgb = np.empty((mosaic.shape[0] // 2, 2, mosaic.shape[1] // 2, 2, 3), lut.dtype)
    scale = (lut.size - 1) / (camera.white_level - camera.black_level)
    for k in range(4):
        for channel in range(3):
            # Interpolation weights sum to 1, so the black level can come off afterwards.
            plane = _interpolate(quarters, channels, k, channel) * np.float32(WHITE_BALANCE[channel] * scale)
            plane -= np.float32(camera.black_level * WHITE_BALANCE[channel] * scale)
            np.clip(plane, 0, lut.size - 1, out=plane)
            rgb[:, k // 2, :, k % 2, channel] = lut[plane.astype(np.uint16)]
    return rgb.reshape(*mosaic.shape, 3)


def _interpolate(
    quarters: list[NDArray[np.float32]], channels: list[int], target: int, channel: int
) -> NDArray[np.float32]:
    """Bilinear estimate of ``channel`` at every photosite of CFA phase ``target`` (a quarter plane)."""
    ty, tx = divmod(target, 2)
    if channels[target] == channel:
        return quarters[target]
    if channel != 1:  # red or blue: mean of the 2 or 4 nearest samples of its single phase
        sy, sx = divmod(channels.index(channel), 2)
        return _between(_between(quarters[2 * sy + sx], ty - sy, 0), tx - sx, 1)
    # Green at a red/blue site: mean of the left/right and the up/down green neighbours.
    plane = _between(quarters[2 * ty + 1 - tx], 2 * tx - 1, 1)
    plane += _between(quarters[2 * (1 - ty) + tx], 2 * ty - 1, 0)
    plane *= 0.5
    return plane


def _between(plane: NDArray[np.float32], offset: int, axis: int) -> NDArray[np.float32]:
    """Mean of the two samples straddling each point shifted ``offset`` (-1, 0, 1) pixels along ``axis``.

    The edge sample repeats at the border: the quarter-plane equivalent of mirroring the mosaic.
    """
    if offset == 0:
        return plane
    src, out = np.moveaxis(plane, axis, 0), np.empty_like(plane)
    dst = np.moveaxis(out, axis, 0)
    if offset > 0:
        np.add(src[:-1], src[1:], out=dst[:-1])
        dst[-1] = 2 * src[-1]
    else:
        np.add(src[1:], src[:-1], out=dst[1:])
        dst[0] = 2 * src[0]
    out *= 0.5
    return out


@functools.cache
def _gamma_lut(bits: int) -> NDArray[np.uint8 | np.uint16]:
    """Linear 16-bit index -> gamma-encoded value; a table lookup is far cheaper than ``**``."""
    curve = np.linspace(0.0, 1.0, 65536) ** (1 / 2.2) * ((1 << bits) - 1) + 0.5
    return curve.astype(np.uint8 if bits == 8 else np.uint16)


# A TIFF tag as (code, TIFF type, values); a str value is ASCII.
_Tag = tuple[int, int, tuple[int, ...] | str]
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _SRATIONAL = 1, 2, 3, 4, 5, 7, 10
_PACK = {  # TIFF type -> (struct code, values per item)
    _BYTE: ("B", 1), _ASCII: ("B", 1), _SHORT: ("H", 1), _LONG: ("I", 1), _RATIONAL: ("I", 2),
    _UNDEFINED: ("B", 1), _SRATIONAL: ("i", 2),
}  # fmt: skip
_MAKER_NOTE = 0x927C


def _ifd(tags: Sequence[_Tag], offset: int) -> bytes:
    """Serialise one little-endian IFD placed at file ``offset``; values over 4 bytes follow it."""
    tags = sorted(tags, key=lambda tag: tag[0])
    extra_at = offset + 2 + 12 * len(tags) + 4
    entries, extra = [], bytearray()
    for code, kind, value in tags:
        code_char, per_item = _PACK[kind]
        if isinstance(value, str):
            raw, count = value.encode("ascii", "replace") + b"\0", len(value) + 1
        else:
            raw, count = struct.pack(f"<{len(value)}{code_char}", *value), len(value) // per_item
        field = raw.ljust(4, b"\0") if len(raw) <= 4 else struct.pack("<I", extra_at + len(extra))
        if len(raw) > 4:
            extra += raw + b"\0" * (len(raw) % 2)  # offsets must be even
        entries.append(struct.pack("<HHI", code, kind, count) + field)
    return struct.pack("<H", len(tags)) + b"".join(entries) + b"\0\0\0\0" + bytes(extra)


def _write_tiff(
    path: pathlib.Path, pixels: NDArray[Any], ifd0: list[_Tag], exif: list[_Tag], *, ifds_last: bool = False
) -> None:
    """Write an uncompressed, single-strip, 16-bit TIFF laid out as header, IFD0, Exif IFD, pixels (or, with
    ``ifds_last``, header, pixels, IFD0, Exif IFD).

    Not tifffile: it cannot write an Exif sub-IFD, and LibRaw takes the ISO only from there.
    Metadata before pixels keeps it readable from the head of the file, as in camera files.
    """
    height, width, *samples = pixels.shape
    spp = samples[0] if samples else 1
    ifd0 = [*ifd0, (256, _LONG, (width,)), (257, _LONG, (height,)), (258, _SHORT, (16,) * spp)]
    ifd0 += [(259, _SHORT, (1,)), (277, _SHORT, (spp,)), (278, _LONG, (height,)), (284, _SHORT, (1,))]
    ifd0 += [(279, _LONG, (pixels.nbytes,))]

    def offsets(exif_at: int, data_at: int) -> list[_Tag]:
        strip: _Tag = (273, _LONG, (data_at,))
        return [strip, (34665, _LONG, (exif_at,))] if exif else [strip]

    data = np.ascontiguousarray(pixels, "<u2").data
    if ifds_last:
        ifd0_at = 8 + data.nbytes  # 16-bit samples: an even offset, as TIFF wants
        exif_at = ifd0_at + len(_ifd(ifd0 + offsets(0, 0), ifd0_at))
        exif_bytes = _ifd(exif, exif_at) if exif else b""
        with open(path, "wb") as f:
            f.write(b"II*\0" + struct.pack("<I", ifd0_at))
            f.write(data)
            f.write(_ifd(ifd0 + offsets(exif_at, 8), ifd0_at))
            f.write(exif_bytes)
        return
    # IFD0's size does not depend on the offsets it holds, so measure it with placeholders.
    exif_at = 8 + len(_ifd(ifd0 + offsets(0, 0), 8))
    exif_bytes = _ifd(exif, exif_at) if exif else b""
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", 8) + _ifd(ifd0 + offsets(exif_at, exif_at + len(exif_bytes)), 8))
        f.write(exif_bytes)
        f.write(data)


def _dng_tags(camera: CameraSpec, unique_model: str) -> list[_Tag]:
    xyz_to_srgb = (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570)  # / 10000
    return [
        (254, _LONG, (0,)), (262, _SHORT, (32803,)), (33421, _SHORT, (2, 2)),  # main image, CFA, 2x2
        (33422, _BYTE, tuple("RGB".index(letter) for letter in camera.cfa)),
        (50706, _BYTE, (1, 4, 0, 0)), (50707, _BYTE, (1, 1, 0, 0)), (50708, _ASCII, unique_model),
        (50710, _BYTE, (0, 1, 2)), (50711, _SHORT, (1,)),
        (50714, _LONG, (camera.black_level,)), (50717, _LONG, (camera.white_level,)),
        (50721, _SRATIONAL, tuple(v for m in xyz_to_srgb for v in (m, 10000))), (50778, _SHORT, (21,)),  # D65
        (50728, _RATIONAL, tuple(v for gain in WHITE_BALANCE for v in (10000, round(gain * 10000)))),
    ]  # fmt: skip


def _exif_tags(camera: CameraSpec, shot: Shot, serial_tag: int) -> tuple[list[_Tag], list[_Tag]]:
    """Camera tags for IFD0 and the Exif IFD of a TIFF-based file.

    Exposure, ISO and DateTimeOriginal go in both: TIFF/EP readers look in IFD0, LibRaw and EXIF
    readers in the Exif IFD.
    """
    stamp = shot.capture_time.strftime("%Y:%m:%d %H:%M:%S")
    exif: list[_Tag] = [(33434, _RATIONAL, _rational(shot.exposure_time)), (34855, _SHORT, (shot.iso,))]
    exif += [(36867, _ASCII, stamp), *_focal_plane_tags(camera)]
    ifd0: list[_Tag] = [(271, _ASCII, camera.make), (272, _ASCII, camera.model), (306, _ASCII, stamp)]
    ifd0 += [(274, _SHORT, (shot.orientation,)), *exif]
    if camera.serial is not None and camera.serial_in == "makernote":
        exif.append((_MAKER_NOTE, _UNDEFINED, tuple(_nikon_maker_note(camera.serial))))
    elif camera.serial is not None:
        exif.append((42033, _ASCII, camera.serial))
        ifd0.append((serial_tag, _ASCII, camera.serial))
    return ifd0, exif


def _nikon_maker_note(serial: str) -> bytes:
    """A Nikon type-3 MakerNote holding only the body serial (tag SerialNO, 0x00A0), as "NO= ..." text.

    Its own TIFF header makes its offsets independent of where the note lies in the file, so JPEG and DNG
    writers can embed it as is.
    """
    text = f"NO= {serial:<16}".encode("ascii") + b"\0"
    ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x00A0, _ASCII, len(text), 8 + 2 + 12 + 4) + b"\0" * 4
    return b"Nikon\0\x02\x10\0\0" + b"MM\0*" + struct.pack(">I", 8) + ifd + text


def _pillow_exif(camera: CameraSpec, shot: Shot) -> Image.Exif:
    """The same camera tags as Pillow EXIF for JPEG and PNG, Exif-standard placement only."""
    exif = Image.Exif()
    stamp = shot.capture_time.strftime("%Y:%m:%d %H:%M:%S")
    exif[271], exif[272], exif[274], exif[306] = camera.make, camera.model, shot.orientation, stamp
    sub = exif.get_ifd(_EXIF_IFD)
    # Pillow 13 cannot serialise fractions.Fraction; IFDRational it can.
    sub[0x829A] = TiffImagePlugin.IFDRational(*_rational(shot.exposure_time))
    sub[0x8827], sub[0x9003] = shot.iso, stamp
    if camera.serial is not None and camera.serial_in == "makernote":
        sub[_MAKER_NOTE] = _nikon_maker_note(camera.serial)
    elif camera.serial is not None:
        sub[0xA431] = camera.serial
    for tag, _, value in _focal_plane_tags(camera):
        sub[tag] = TiffImagePlugin.IFDRational(*value) if len(value) == 2 else value[0]
    return exif


def _focal_plane_tags(camera: CameraSpec) -> list[_Tag]:
    """FocalPlaneX/YResolution in pixels per cm (unit 3), from the pixel pitch: how EXIF gives sensor size."""
    if camera.pixel_pitch_um is None:
        return []
    per_cm = (round(1e7 / camera.pixel_pitch_um), 1000)
    return [(41486, _RATIONAL, per_cm), (41487, _RATIONAL, per_cm), (41488, _SHORT, (3,))]


def _rational(seconds: float) -> tuple[int, int]:
    """Exposure time as (numerator, denominator): 1/n below a second, tenths above."""
    return (1, round(1.0 / seconds)) if seconds < 1.0 else (round(seconds * 10), 10)


def _exposure(rng: np.random.Generator, low: float, high: float) -> float:
    """An exposure time log-uniform in ``low``-``high`` s, as the RATIONAL tag will store it."""
    numerator, denominator = _rational(float(np.exp(rng.uniform(np.log(low), np.log(high)))))
    # numerator / denominator is exactly what a reader gets back from the RATIONAL tag.
    return numerator / denominator


def _draw_settings(rng: np.random.Generator, night_share: float = 0.2) -> tuple[float, int]:
    """Exposure time (s) and ISO: ``night_share`` log-uniform in 1-30 s, the rest in 1/4000-1 s."""
    low, high = (1.0, 30.0) if rng.random() < night_share else (1 / 4000, 1.0)
    return _exposure(rng, low, high), int(rng.choice(ISO_SPEEDS))


def shot_settings(seed: int, index: int, night_share: float = 0.2) -> tuple[float, int]:
    """Exposure time (s) and ISO that :func:`write_archive` gives shot ``index`` of an archive (outside bursts
    and dark frames)."""
    return _draw_settings(np.random.default_rng([seed, index]), night_share)


def write_archive(
    directory: pathlib.Path,
    camera: CameraSpec,
    defects: Sequence[Defect],
    shots: int = 20,
    *,
    formats: Sequence[str] = ("dng", "jpg"),
    seed: int = 0,
    start: datetime.datetime = datetime.datetime(2020, 1, 1, 12, 0),
    interval: datetime.timedelta = datetime.timedelta(days=1),
    exif: bool = True,
    portrait_every: int = 0,
    jpeg_quality: int = 92,
    bursts: Sequence[tuple[int, int]] = (),
    dark_frames: Collection[int] = (),
    stars: bool = False,
    times: Sequence[datetime.datetime] | None = None,
    scenes: Sequence[NDArray[np.uint8]] = (),
    night_share: float = 0.2,
    developer: str = "sim",
) -> Archive:
    """Simulate ``shots`` captures and write one file per shot and format.

    Parameters
    ----------
    directory : pathlib.Path
        Output folder, created if missing; files are named ``f"{camera.model}_{index:05d}.{ext}"``.
    camera : CameraSpec
        The simulated camera.
    defects : sequence of Defect
        Defects to plant, e.g. from :func:`plant_defects`.
    shots : int
        Number of captures.
    formats : sequence of str
        Any of "dng" (raw CFA), "jpg" and "png" (developed 8-bit RGB), "tif" (developed 16-bit RGB).
        The files of one shot share capture time and EXIF identity.
    seed : int
        Shot ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
    start, interval : datetime.datetime, datetime.timedelta
        Shot ``i`` is captured at ``start + i * interval`` (naive local time, as EXIF has it).
    exif : bool
        If False, write no camera metadata: no make, model, serial, time, exposure, ISO or orientation.
    portrait_every : int
        If > 0, shots ``portrait_every - 1``, ``2 * portrait_every - 1``, ... carry Orientation 6 (the
        pixels are never rotated); all others carry Orientation 1.
    jpeg_quality : int
        Pillow JPEG quality.
    bursts : sequence of (int, int)
        ``(first, count)``: shots ``first .. first + count - 1`` are a burst (a tripod or a tracking mount):
        the same scene, exposure and ISO as shot ``first``, with fresh noise.
    dark_frames : collection of int
        Shots taken with the lens cap on: exposures of 1-30 s, no scene, only noise and defects.
    stars : bool
        Night scenes have stars (see :func:`render_mosaic`).
    times : sequence of datetime.datetime, optional
        Capture time of each shot, in capture order; replaces ``start`` and ``interval``.
    scenes : sequence of uint8 arrays
        Real photos to crop scenes from (:func:`hpstore.testing.natural.load`) instead of synthetic scenes.
    night_share : float
        Share of shots (outside bursts and dark frames) exposed 1-30 s, like night scenes.
    developer : str
        What makes the JPEG and PNG files from the mosaic: ``"sim"`` (:func:`develop`: bilinear
        demosaicing, white balance, gamma) or ``"libraw"`` (LibRaw through rawpy develops the shot's DNG
        as a raw converter does: AHD demosaicing, its own colour and tone; needs ``"dng"`` in ``formats``).

    Returns
    -------
    Archive
        The camera, the defects and the shots in capture order.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown formats {sorted(unknown)}; choose from {FORMATS}")
    if camera.cfa == "MONO" and set(formats) != {"fits"}:
        raise ValueError("a monochrome camera writes FITS only")
    if developer not in ("sim", "libraw") or (developer == "libraw" and "dng" not in formats):
        raise ValueError(f"developer {developer!r}: choose 'sim', or 'libraw' with 'dng' among the formats")
    if times is not None and len(times) != shots:
        raise ValueError(f"{len(times)} capture times for {shots} shots")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    leader = {i: first for first, count in bursts for i in range(first, first + count)}
    for index in range(shots):
        rng = np.random.default_rng([seed, index])
        first = leader.get(index, index)
        scene_rng = rng if first == index else np.random.default_rng([seed, first])
        exposure_time, iso = _draw_settings(scene_rng, night_share)
        if index in dark_frames:
            exposure_time = _exposure(rng, 1.0, 30.0)
        portrait = portrait_every > 0 and index % portrait_every == portrait_every - 1
        paths = {fmt: directory / f"{camera.model}_{index:05d}.{fmt}" for fmt in formats}
        when = times[index] if times is not None else start + index * interval
        shot = Shot(index, when, exposure_time, iso, paths, 6 if portrait else 1, index in dark_frames)
        mosaic = render_mosaic(
            camera, defects, index, exposure_time, iso, rng,
            scene_rng=scene_rng, stars=stars, dark=index in dark_frames, scenes=scenes,
        )  # fmt: skip
        _write_shot(shot, camera, mosaic, exif, jpeg_quality, developer)
        written.append(shot)
    return Archive(camera, tuple(defects), tuple(written))


def _write_shot(
    shot: Shot, camera: CameraSpec, mosaic: NDArray[np.uint16], exif: bool, quality: int, developer: str = "sim"
) -> None:
    if "dng" in shot.paths:
        ifd0, sub = _exif_tags(camera, shot, 50735) if exif else ([], [])
        unique_model = f"{camera.make} {camera.model}" if exif else "Unknown camera"
        tags = _dng_tags(camera, unique_model) + ifd0
        stored = mosaic
        if any(camera.masked):
            top, left, bottom, right = camera.masked
            stored = np.pad(mosaic, ((top, bottom), (left, right)), constant_values=camera.black_level)
            tags.append((50829, _LONG, (top, left, top + mosaic.shape[0], left + mosaic.shape[1])))  # ActiveArea
        _write_tiff(shot.paths["dng"], stored, tags, sub, ifds_last=camera.ifds_last)
    if "tif" in shot.paths:
        ifd0, sub = _exif_tags(camera, shot, 42033) if exif else ([], [])
        developed = develop(mosaic, camera, bits=16)
        _write_tiff(shot.paths["tif"], developed, [(262, _SHORT, (2,)), *ifd0], sub, ifds_last=camera.ifds_last)
    if "jpg" in shot.paths or "png" in shot.paths:
        pixels = _libraw(shot.paths["dng"]) if developer == "libraw" else develop(mosaic, camera, bits=8)
        image = Image.fromarray(pixels)
        extra = {"exif": _pillow_exif(camera, shot)} if exif else {}
        if "jpg" in shot.paths:
            image.save(shot.paths["jpg"], "JPEG", quality=quality, **extra)
        if "png" in shot.paths:
            image.save(shot.paths["png"], "PNG", compress_level=1, **extra)
    if "heic" in shot.paths:
        meta = _pillow_exif(camera, shot) if exif else None
        _write_heic(shot.paths["heic"], develop(mosaic, camera, bits=8), meta)
    if "fits" in shot.paths:
        _write_fits(shot.paths["fits"], mosaic, camera, shot, exif)


def _libraw(dng: pathlib.Path) -> NDArray[np.uint8]:
    """The DNG developed by LibRaw (AHD demosaicing, its colour and tone curve), not rotated, with a fixed
    brightness as a camera's picture style has: dcraw's automatic brightening, which stretches every image
    until 1 % of it is white, is a converter's feature, not what camera JPEG engines do."""
    import rawpy

    with rawpy.imread(str(dng)) as raw:
        return np.asarray(raw.postprocess(user_flip=0, output_bps=8, no_auto_bright=True), np.uint8)


def _write_heic(path: pathlib.Path, pixels: NDArray[Any], exif: Image.Exif | None) -> None:
    """An 8-bit HEIC as a phone writes it; its EXIF orientation becomes the HEIF ``irot``/``imir``
    transformation of the pixels as stored (pillow-heif does that)."""
    import pillow_heif

    heif = pillow_heif.from_pillow(Image.fromarray(pixels))
    heif.save(path, quality=90, **({"exif": exif.tobytes()} if exif is not None else {}))


def _write_fits(
    path: pathlib.Path, mosaic: NDArray[np.uint16], camera: CameraSpec, shot: Shot, meta: bool
) -> None:
    """A FITS frame as an astronomy capture program writes it: unsigned 16-bit (BZERO 32768), rows top-down,
    BAYERPAT for a colour sensor, exposure, time, sensor temperature and frame type in the header."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU(mosaic.astype(np.uint16))
    header = hdu.header
    if camera.cfa != "MONO":
        header["BAYERPAT"], header["XBAYROFF"], header["YBAYROFF"] = camera.cfa, 0, 0
    header["ROWORDER"] = "TOP-DOWN"
    if meta:
        header["INSTRUME"] = f"{camera.make} {camera.model}"
        if camera.serial is not None:
            header["SERIALNO"] = camera.serial
        header["EXPTIME"] = shot.exposure_time
        header["DATE-OBS"] = shot.capture_time.isoformat()
        header["IMAGETYP"] = "Dark Frame" if shot.dark else "Light Frame"
        if camera.temperature is not None:
            header["CCD-TEMP"] = camera.temperature
        if camera.pixel_pitch_um is not None:
            header["XPIXSZ"] = header["YPIXSZ"] = camera.pixel_pitch_um
    hdu.writeto(path, overwrite=True)


def write_corrupt_files(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write files a decoder must reject (or, for the odd name, read) without crashing.

    Parameters
    ----------
    directory : pathlib.Path
        Output folder, created if missing.

    Returns
    -------
    dict of str to pathlib.Path
        Keyed "empty.jpg" (0 bytes), "text.jpg" (text), "truncated.jpg" (a valid JPEG cut to half),
        "truncated.dng" (a valid 64x96 DNG cut to half: header intact, pixels missing), "notes.txt"
        (unsupported type) and "non_utf8.jpg": a valid JPEG named ``b"odd name \\xc3\\xa9 \\xff.jpg"``,
        not valid UTF-8; its Path holds the 0xFF byte as the surrogate "\\udcff" (``os.fsdecode``).
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        shot = write_archive(pathlib.Path(scratch), CameraSpec(height=64, width=96), [], 1, seed=1).shots[0]
        jpeg, dng = shot.paths["jpg"].read_bytes(), shot.paths["dng"].read_bytes()
    contents = {"empty.jpg": b"", "text.jpg": b"This is not a JPEG, just text.\n", "notes.txt": b"Shot list.\n"}
    contents.update({"truncated.jpg": jpeg[: len(jpeg) // 2], "truncated.dng": dng[: len(dng) // 2]})
    paths = {name: directory / name for name in contents}
    for name, data in contents.items():
        paths[name].write_bytes(data)
    odd = os.path.join(os.fsencode(directory), b"odd name \xc3\xa9 \xff.jpg")
    with open(odd, "wb") as f:
        f.write(jpeg)
    paths["non_utf8.jpg"] = pathlib.Path(os.fsdecode(odd))
    return paths
