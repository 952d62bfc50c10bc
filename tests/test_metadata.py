"""Camera identity from metadata: which serial wins, and one text per body whatever the file type."""

from __future__ import annotations

import pytest

from hpstore.io.metadata import body_serial, normalise_serial


@pytest.mark.parametrize(
    ("raw", "serial"),
    [
        ("NO= 2001f1c0        ", "2001f1c0"),  # Nikon D70 SerialNO
        ("NO= 00002539        ", "2539"),  # zero padding of an all-digit serial
        ("0330113864", "330113864"),  # Canon's number as a DNG converter writes it
        (b"F000501140053\x00\xff\xdd", "F000501140053"),  # Panasonic: bytes after the end of the C string
        ("  12 34\x00", "1234"),
        ("0000000000", None),  # placeholder
        ("", None),
        (None, None),
    ],
)
def test_serials_are_normalised(raw: object, serial: str | None) -> None:
    assert normalise_serial(raw) == serial


def test_exif_body_serial_wins_then_dng_then_the_maker_note() -> None:
    every = {
        "Exif.Nikon3.SerialNO": "NO= 1",
        "Exif.Image.CameraSerialNumber": "2",
        "Exif.Photo.BodySerialNumber": "3",
    }
    assert body_serial(every) == "3"
    assert body_serial({k: v for k, v in every.items() if "Body" not in k}) == "2"
    assert body_serial({"Exif.Nikon3.SerialNO": "NO= 1"}) == "1"
    # Lens, flash and accessory serials are never the body's; other makers' serial tags are found too.
    assert body_serial({"Exif.Canon.LensSerialNumber": "9", "Exif.Panasonic.AccessorySerialNumber": "8"}) is None
    assert body_serial({"Exif.Casio2.SerialNumber": "77"}) == "77"
