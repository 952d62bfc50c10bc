"""Store size per period (issue 5): what the time axis costs on disk, and what a 10-year 24 MP camera needs.

A simulated camera life (``hpstore.testing.lifetime``: photos in sessions over several years, defects appearing at
known dates) is ingested three times, into stores whose periods are years, quarters and months. For each it
prints the state bytes per period and exposure class, bytes per photosite per period (Zarr chunks as
written: float64 mean and M2, blosc lz4 + bit shuffle), catalog bytes per photo (the per-photo standouts and
the file row), and the onset error of each planted defect. Then it extrapolates to a 24 MP camera over 10
years with 3,000 photos a year, and compares with what a store with one period for the whole life needs
(what hpstore kept before periods existed), from the same run's bytes per photosite.

Run from the repository root::

    python bench/store_size.py                 # 0.4 MP sensor, 4 years, 240 photos: about a minute
    python bench/store_size.py --quick         # smoke run
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from hpstore.commands.compact import compact, state_bytes
from hpstore.commands.query import query
from hpstore.ingest.pipeline import ingest
from hpstore.settings import load_settings
from hpstore.store.storage import Storage
from hpstore.testing.lifetime import LIFE_CAMERA, onset_error, write_life
from hpstore.testing.simulator import CameraSpec

TARGET_PHOTOSITES = 24e6
TARGET_YEARS = 10
TARGET_PHOTOS_PER_YEAR = 3000
FEW_GB = 5e9  # "a few GB"
KEEP_YEARS = 3  # years kept apart by compaction in the extrapolation


def _catalog_bytes(path: Path) -> tuple[int, int]:
    """(bytes of all standouts, ingested photos) in a catalog."""
    with sqlite3.connect(path) as db:
        blob, count = db.execute(
            "SELECT COALESCE(SUM(LENGTH(standouts)), 0), COUNT(*) FROM files WHERE status = 'ingested'"
        ).fetchone()
    return int(blob), int(count)


def measure(photos: list[str], store: Path, period: str) -> dict[str, float]:
    settings = load_settings(env={}, store=store, period=period)
    started = time.monotonic()
    for part in (photos[: len(photos) // 2], photos[len(photos) // 2 :]):
        ingest(part, settings)
    seconds = time.monotonic() - started
    with Storage(settings, create=False) as st:
        groups = [g for g in st.catalog.groups() if g.n > 0]
    samples = groups[0].height * groups[0].width * groups[0].channels
    state = state_bytes(settings)
    blob, count = _catalog_bytes(store / "catalog.sqlite")
    return {
        "groups": len(groups),
        "periods": len({g.period for g in groups}),
        "state_bytes": state,
        "bytes_per_sample_per_group": state / samples / len(groups),
        "catalog_bytes": (store / "catalog.sqlite").stat().st_size,
        "standout_bytes_per_photo": blob / max(count, 1),
        "ingest_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small life, for a smoke run")
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--photos", type=int, default=240)
    args = parser.parse_args()
    years, shots = (2, 60) if args.quick else (args.years, args.photos)
    camera = LIFE_CAMERA if args.quick else CameraSpec("Simcam", "L2", "LIFE0002", 512, 768, "RGGB")
    root = Path(tempfile.mkdtemp(prefix="hpstore-size-"))
    archive, aging = write_life(root / "photos", camera, shots=shots, years=years, formats=("dng",))
    photos = [str(s.paths["dng"]) for s in archive.shots]
    random.Random(3).shuffle(photos)
    size = f"{camera.height}x{camera.width}"
    print(f"life: {size} RAW, {shots} photos over {years} years, ingested in shuffled order in 2 runs")

    results = {}
    for period in ("year", "quarter", "month"):
        results[period] = measure(photos, root / f"store-{period}", period)
    settings = load_settings(env={}, store=root / "store-year")
    last_year = max(s.capture_time for s in archive.shots).year
    compacted = compact(settings, before=str(last_year))
    onsets = []
    rows = query(settings, source="raw", top=20)
    for a in aging:
        found = next((r for r in rows if (r["row"], r["col"]) == (a.defect.row, a.defect.col)), None)
        error = onset_error(archive, a.defect, found["first_seen"]) if found else None
        onsets.append((a, found, error))

    print()
    print(f"{'period':8s} {'groups':>6s} {'state MB':>9s} {'B/photosite/group':>18s} {'standouts B/photo':>18s}")
    for period, r in results.items():
        mb, per_sample = r["state_bytes"] / 1e6, r["bytes_per_sample_per_group"]
        print(f"{period:8s} {r['groups']:6.0f} {mb:9.2f} {per_sample:18.2f} {r['standout_bytes_per_photo']:18.0f}")
    per_group = results["year"]["bytes_per_sample_per_group"]
    per_photo = results["year"]["standout_bytes_per_photo"]
    long_share = results["year"]["groups"] / max(results["year"]["periods"], 1)  # exposure classes per period
    print()
    print("extrapolated to a 24 MP RAW camera, 10 years, 3,000 photos a year:")
    baseline = TARGET_PHOTOSITES * per_group * long_share
    for period, per_year in (("year", 1), ("quarter", 4), ("month", 12)):
        dense = TARGET_PHOTOSITES * per_group * long_share * per_year * TARGET_YEARS
        sparse = per_photo * TARGET_PHOTOS_PER_YEAR * TARGET_YEARS
        total = dense + sparse
        verdict = "PASS" if total <= FEW_GB else "over a few GB"
        print(
            f"  {period:8s} dense {dense / 1e9:6.2f} GB + standouts {sparse / 1e9:5.2f} GB = "
            f"{total / 1e9:6.2f} GB ({total / baseline:5.1f} x one whole-life state, "
            f"{baseline / 1e9:.2f} GB)  {verdict}"
        )
    kept = TARGET_PHOTOSITES * per_group * long_share * (KEEP_YEARS + 1)
    sparse = per_photo * TARGET_PHOTOS_PER_YEAR * TARGET_YEARS
    verdict = "PASS" if kept + sparse <= FEW_GB else "over a few GB"
    print(
        f"  year, compacted (last {KEEP_YEARS} years apart, older merged): dense {kept / 1e9:5.2f} GB + standouts "
        f"{sparse / 1e9:4.2f} GB = {(kept + sparse) / 1e9:5.2f} GB  {verdict}"
    )
    print("  (a developed 24 MP JPEG source holds 3 samples per photosite: 3 x the dense figures)")
    print()
    print(
        f"measured compaction of the year store (hpstore compact --before {last_year}): state "
        f"{compacted.bytes_before / 1e6:.1f} MB -> {compacted.bytes_after / 1e6:.1f} MB, "
        f"{len(compacted.merged)} merges"
    )
    print()
    print("onset error (photos after the true onset; 0 = the onset's day) with year periods:")
    for a, found, error in onsets:
        where = "not in top 20" if found is None else f"{found['kind']:8s} first_seen {found['first_seen']}"
        print(f"  {a.grade:6s} {a.defect.kind:8s} onset photo {a.defect.onset:4d}: {where}  error {error}")


if __name__ == "__main__":
    main()
