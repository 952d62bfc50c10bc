"""Reading photos: find the files (``discover``), read what their headers and metadata say (``probe``,
``metadata``), decode their pixels in sensor orientation (``decode_into``). One module per family of formats:
``images`` (JPEG, PNG), ``tiff``, ``heif``, ``raw`` (LibRaw), ``fits``."""

from hpstore.io.decode import claimed_format, decode_into, probe
from hpstore.io.discover import Discovered, discover, fs_path, path_bytes, path_key
from hpstore.io.metadata import Facts, read_facts
from hpstore.io.photo import PhotoInfo

# The version of the rules that identify a file (its camera, format, geometry and facts). Catalog rows keep
# the version that made them: ``hpstore check`` re-identifies ingested files of older versions, and an
# ingest tries files that failed or were skipped under an older version again.
#   1 (rows without a version): Pillow's TIFF parser on the first MiB; EXIF serials only
#   2: libexiv2 (MakerNote serials, IFDs anywhere), HEIF, FITS, compressed TIFF
READER = 2

__all__ = [
    "READER",
    "Discovered",
    "Facts",
    "PhotoInfo",
    "claimed_format",
    "decode_into",
    "discover",
    "fs_path",
    "path_bytes",
    "path_key",
    "probe",
    "read_facts",
]
