"""What a file's headers say about its pixels, and whether the file can hold what its header claims."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpstore.errors import DecodeError
from hpstore.io.metadata import Facts

MAX_PIXELS = 800_000_000  # real sensors reach ~150 MP, stitched scans a few hundred; refuse absurd headers

# Formats whose pixels are sensor data (the CFA mosaic or a monochrome sensor), not a developed image.
SENSOR_FORMATS = ("raw", "fits")


@dataclass(frozen=True)
class PhotoInfo:
    """Format, array geometry, sensor levels and facts of one file, from its headers only.

    The array a decoder fills is ``(height, width, channels)`` of ``dtype``, in the order the file stores
    its rows (EXIF orientation and HEIF rotations are never applied).
    """

    format: str  # "jpeg" | "png" | "tiff" | "heif" | "raw" | "fits"
    height: int
    width: int
    channels: int
    bits: int  # 8 or 16: the container's sample size
    pattern: str | None = None  # sensor data: CFA colours row-major, e.g. "RGGB" (2x2); None: monochrome
    black_level: float | None = None
    white_level: float | None = None  # the largest value the data can take (12-bit data in 16 bits: 4095)
    facts: Facts = field(default_factory=Facts)
    index: int = 0  # which image of the file: the HDU of a FITS file

    @property
    def source(self) -> str:
        """``raw`` for sensor data (a RAW file's CFA mosaic, a FITS frame), ``rgb`` for developed images."""
        return "raw" if self.format in SENSOR_FORMATS else "rgb"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bits == 8 else np.uint16

    @property
    def nbytes(self) -> int:
        return self.height * self.width * self.channels * (self.bits // 8)


def check_claim(info: PhotoInfo, file_size: int, least_bytes: float) -> None:
    """Refuse a header whose geometry the file cannot hold.

    ``least_bytes`` is the fewest bytes the format can encode such an array in (its best compression of a
    flat image); a header claiming more pixels than that is damaged or forged, and decoding it would only
    take memory. Checked before any buffer is taken for the frame.
    """
    pixels = info.height * info.width
    if info.height < 1 or info.width < 1:
        raise DecodeError(f"header claims an empty {info.width}x{info.height} image")
    if pixels > MAX_PIXELS:
        raise DecodeError(f"header claims {info.width}x{info.height} pixels, more than any sensor has")
    if file_size < least_bytes:
        raise DecodeError(
            f"header claims {info.width}x{info.height} pixels, which {file_size} bytes cannot hold "
            "(a damaged or forged file)"
        )
