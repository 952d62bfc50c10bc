"""One photo's evidence as the catalog keeps it: the samples that stood out of their neighbours (found by
``hpstore.ingest.scan``), packed into a few KiB per photo. Light: readers unpack it without the scan's
compiled kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_HEADER = np.dtype([("count", "<i4"), ("noise", "<f4"), ("threshold", "<f4")])


@dataclass(frozen=True)
class Standouts:
    """One photo's evidence: flat indices into its ``(row, col, channel)`` array and signed excess (DN)
    beyond the neighbours' range."""

    index: np.ndarray  # int64
    excess: np.ndarray  # float32
    noise: float
    threshold: float  # how far a value had to stand out in this photo (DN)

    def pack(self) -> bytes:
        head = np.array([(len(self.index), self.noise, self.threshold)], _HEADER)
        return head.tobytes() + self.index.astype("<i4").tobytes() + self.excess.astype("<f4").tobytes()

    @classmethod
    def unpack(cls, blob: bytes) -> Standouts:
        head = np.frombuffer(blob, _HEADER, count=1)[0]
        count = int(head["count"])
        at = _HEADER.itemsize
        index = np.frombuffer(blob, "<i4", count, at).astype(np.int64)
        excess = np.frombuffer(blob, "<f4", count, at + 4 * count).astype(np.float32)
        return cls(index, excess, float(head["noise"]), float(head["threshold"]))
