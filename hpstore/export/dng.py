"""DNG's own bad pixel map: the FixBadPixelsList opcode (DNG 1.3, opcode 5), which Adobe Camera Raw and
Lightroom apply when they read the file, and copies of DNGs that carry it.

The opcode list is big-endian whatever the file's byte order: a count, then per opcode its id, the DNG
version it needs, flags, the size of its parameters and the parameters. FixBadPixelsList's are the Bayer
phase, the counts of points and rectangles, the points as (row, col) and the rectangles as (top, left,
bottom, right), bottom and right exclusive. Placed in OpcodeList1 (tag 51008), it runs on the raw image as
stored, so its coordinates are those of the whole stored image: the active area's offset is added to the
map's (which are LibRaw's, the image without its masked margins).

A copy is the original's bytes with a new directory for the raw image appended (the old one with the opcode
list added, or extended), and the pointer to it patched; nothing of the original is moved. An uncompressed
raw image also gets its mapped photosites repaired in the copy, so that readers that skip opcodes (dcraw,
LibRaw) see the repair too.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from hpstore.errors import DecodeError

FIX_BAD_PIXELS_LIST = 5
OPCODE_LIST1 = 51008
_VERSION_1_3 = 0x01030000
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
_UNDEFINED = 7


def bayer_phase(pattern: Sequence[int], top: int, left: int) -> int:
    """FixBadPixelsList's Bayer phase of the stored image, from the 2x2 CFA pattern of the active area
    (0 red, 1 green, 2 blue, row by row) and the active area's origin: 0 GRBG, 1 RGGB, 2 BGGR, 3 GBRG, as the
    DNG SDK reads it (only whether the top-left photosite is green matters to its repair)."""
    shifted = [pattern[((r + top) % 2) * 2 + (c + left) % 2] for r in range(2) for c in range(2)]
    layouts = {(1, 0, 2, 1): 0, (0, 1, 1, 2): 1, (2, 1, 1, 0): 2, (1, 2, 0, 1): 3}
    return layouts.get((shifted[0], shifted[1], shifted[2], shifted[3]), 1)


def fix_bad_pixels(
    points: Sequence[tuple[int, int]], rects: Sequence[tuple[int, int, int, int]], phase: int
) -> bytes:
    """One FixBadPixelsList opcode: its header and parameters."""
    params = struct.pack(">III", phase, len(points), len(rects))
    params += b"".join(struct.pack(">ii", r, c) for r, c in points)
    params += b"".join(struct.pack(">iiii", *rect) for rect in rects)
    return struct.pack(">IIII", FIX_BAD_PIXELS_LIST, _VERSION_1_3, 0, len(params)) + params


def opcode_list(opcodes: Sequence[bytes], existing: bytes | None = None) -> bytes:
    """An opcode list of ``existing``'s opcodes (the value of an OpcodeList tag, or None) then ``opcodes``."""
    count, body = 0, b""
    if existing:
        if len(existing) < 4:
            raise DecodeError("the DNG's opcode list is damaged")
        count, body = struct.unpack(">I", existing[:4])[0], existing[4:]
    return struct.pack(">I", count + len(opcodes)) + body + b"".join(opcodes)


@dataclass
class _Entry:
    tag: int
    kind: int
    count: int
    raw: bytes  # the 4 or 8 bytes of the entry's value field

    def size(self) -> int:
        return _SIZES.get(self.kind, 1) * self.count


@dataclass
class _Ifd:
    at: int  # offset of the directory
    entries: dict[int, _Entry]
    next_at: int
    pointer_at: int  # where the offset of this directory is written (header, or a SubIFDs value)


class Tiff:
    """Just enough of a TIFF (classic, not BigTIFF) to find the raw image's directory, read its tags and
    append a changed copy of it."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        order = bytes(data[:2])
        if order not in (b"II", b"MM") or len(data) < 8:
            raise DecodeError("not a TIFF-based file")
        self.e = "<" if order == b"II" else ">"
        if self._u16(2) != 42:
            raise DecodeError("not a classic TIFF (BigTIFF DNGs are not supported)")

    def _u16(self, at: int) -> int:
        return int(struct.unpack_from(self.e + "H", self.data, at)[0])

    def _u32(self, at: int) -> int:
        return int(struct.unpack_from(self.e + "I", self.data, at)[0])

    def ifd(self, at: int, pointer_at: int) -> _Ifd:
        if not 8 <= at < len(self.data) - 2:
            raise DecodeError("a TIFF directory lies outside the file")
        n = self._u16(at)
        entries = {}
        for i in range(n):
            p = at + 2 + 12 * i
            tag, kind, count = struct.unpack_from(self.e + "HHI", self.data, p)
            entries[tag] = _Entry(tag, kind, count, bytes(self.data[p + 8 : p + 12]))
        return _Ifd(at, entries, self._u32(at + 2 + 12 * n), pointer_at)

    def value(self, entry: _Entry) -> bytes:
        if entry.size() <= 4:
            return entry.raw[: entry.size()]
        at = struct.unpack(self.e + "I", entry.raw)[0]
        return bytes(self.data[at : at + entry.size()])

    def ints(self, entry: _Entry) -> list[int]:
        code = {1: "B", 3: "H", 4: "I", 7: "B", 8: "h", 9: "i"}.get(entry.kind)
        if code is None:
            raise DecodeError(f"tag {entry.tag} is not a whole number")
        return list(struct.unpack(self.e + code * entry.count, self.value(entry)))

    def raw_ifd(self) -> _Ifd:
        """The directory of the full-size CFA image: IFD0 or one of its SubIFDs whose NewSubFileType is 0."""
        candidates = [self.ifd(self._u32(4), 4)]
        if 330 in candidates[0].entries:  # SubIFDs
            sub = candidates[0].entries[330]
            place = candidates[0].at + 2 + 12 * list(candidates[0].entries).index(330) + 8
            base = place if sub.size() <= 4 else struct.unpack(self.e + "I", sub.raw)[0]
            for i, offset in enumerate(self.ints(sub)):
                candidates.append(self.ifd(offset, base + 4 * i))
        for ifd in candidates:
            kind = self.ints(ifd.entries[254])[0] if 254 in ifd.entries else 0
            photometric = self.ints(ifd.entries[262])[0] if 262 in ifd.entries else 0
            if kind == 0 and photometric == 32803:
                return ifd
        raise DecodeError("no CFA raw image in this DNG")

    def append_ifd(self, ifd: _Ifd, extra: dict[int, tuple[int, bytes]]) -> None:
        """Append a copy of ``ifd`` with the tags of ``extra`` (tag -> (type, value bytes)) set, and point
        to it where ``ifd`` was pointed to."""
        if len(self.data) % 2:
            self.data += b"\0"
        values: dict[int, bytes] = {}
        for tag, (_kind, value) in extra.items():
            if len(value) > 4:
                values[tag] = struct.pack(self.e + "I", len(self.data))
                self.data += value + (b"\0" if len(value) % 2 else b"")
            else:
                values[tag] = value.ljust(4, b"\0")
        entries = dict(ifd.entries)
        for tag, (kind, value) in extra.items():
            entries[tag] = _Entry(tag, kind, len(value) // _SIZES[kind], values[tag])
        at = len(self.data)
        self.data += struct.pack(self.e + "H", len(entries))
        for tag in sorted(entries):
            e = entries[tag]
            self.data += struct.pack(self.e + "HHI", e.tag, e.kind, e.count) + e.raw
        self.data += struct.pack(self.e + "I", ifd.next_at)
        struct.pack_into(self.e + "I", self.data, ifd.pointer_at, at)


def _layout(tiff: Tiff, raw: _Ifd) -> tuple[int, int, int, int, int]:
    """(top, left, stored width, stored height, Bayer phase) of a DNG's raw image."""
    top, left = 0, 0
    if 50829 in raw.entries:  # ActiveArea: top, left, bottom, right
        top, left = tiff.ints(raw.entries[50829])[:2]
    width, height = tiff.ints(raw.entries[256])[0], tiff.ints(raw.entries[257])[0]
    pattern = tiff.ints(raw.entries[33422]) if 33422 in raw.entries else [0, 1, 1, 2]
    return top, left, width, height, bayer_phase(pattern[:4], top, left)


def fix_bad_pixels_for(
    tiff: Tiff, raw: _Ifd, points: Sequence[tuple[int, int]], columns: Sequence[int], rows: Sequence[int]
) -> bytes:
    """The FixBadPixelsList opcode for a DNG's layout: ``points`` ((row, col) of the image without its
    masked margins), whole ``columns`` and ``rows``, moved to the whole stored image's coordinates. The CFA
    pattern is taken as the active area's, as the DNG specification has it."""
    top, left, width, height, phase = _layout(tiff, raw)
    stored = [(r + top, c + left) for r, c in points]
    rects = [(0, c + left, height, c + left + 1) for c in columns]
    rects += [(r + top, 0, r + top + 1, width) for r in rows]
    return fix_bad_pixels(stored, rects, phase)


def map_for(data: bytes, points: Sequence[tuple[int, int]], columns: Sequence[int], rows: Sequence[int]) -> bytes:
    """The value of an OpcodeList1 tag holding these defects, for DNGs laid out as the DNG ``data``."""
    tiff = Tiff(data)
    return opcode_list([fix_bad_pixels_for(tiff, tiff.raw_ifd(), points, columns, rows)])


def with_opcode(
    data: bytes,
    points: Sequence[tuple[int, int]],
    columns: Sequence[int] = (),
    rows: Sequence[int] = (),
    *,
    repair: bool = True,
) -> bytes:
    """A DNG's bytes with FixBadPixelsList for ``points`` ((row, col) of the image without its masked
    margins), whole ``columns`` and ``rows`` added to its OpcodeList1 (after any opcodes it holds), and,
    where the raw image is uncompressed 16-bit, the points repaired (each from its same-colour neighbours
    two apart) when ``repair`` is set."""
    tiff = Tiff(data)
    raw = tiff.raw_ifd()
    existing = tiff.value(raw.entries[OPCODE_LIST1]) if OPCODE_LIST1 in raw.entries else None
    opcodes = opcode_list([fix_bad_pixels_for(tiff, raw, points, columns, rows)], existing)
    if repair:
        top, left = _layout(tiff, raw)[:2]
        _repair_values(tiff, raw, [(r + top, c + left) for r, c in points])
    tiff.append_ifd(raw, {OPCODE_LIST1: (_UNDEFINED, opcodes)})
    return bytes(tiff.data)


def _repair_values(tiff: Tiff, raw: _Ifd, points: Sequence[tuple[int, int]]) -> None:
    """Replace each photosite with the mean of its same-colour neighbours two rows or columns apart, in an
    uncompressed 16-bit strip image (otherwise leave the data to the opcode)."""
    e = raw.entries
    if any(t not in e for t in (256, 257, 273)) or (259 in e and tiff.ints(e[259])[0] != 1):
        return
    if (258 in e and tiff.ints(e[258])[0] != 16) or (277 in e and tiff.ints(e[277])[0] != 1):
        return
    width, height = tiff.ints(e[256])[0], tiff.ints(e[257])[0]
    per_strip = tiff.ints(e[278])[0] if 278 in e else height
    strips = tiff.ints(e[273])
    fmt = tiff.e + "H"

    def at(r: int, c: int) -> int:
        return strips[r // per_strip] + ((r % per_strip) * width + c) * 2

    taken = set(points)
    for r, c in points:
        around = [
            (r + dy, c + dx)
            for dy in (-2, 0, 2)
            for dx in (-2, 0, 2)
            if (dy or dx) and 0 <= r + dy < height and 0 <= c + dx < width and (r + dy, c + dx) not in taken
        ]
        if around:
            level = sum(struct.unpack_from(fmt, tiff.data, at(y, x))[0] for y, x in around) // len(around)
            struct.pack_into(fmt, tiff.data, at(r, c), level)
