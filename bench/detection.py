"""Detection quality of hpstore against planted defects, and against rawpy.enhance.find_bad_pixels (issue 4).

For each evaluation camera of ``hpstore.testing.evaluation`` (three sensors, different CFA layouts) it writes an
archive of RAW+JPEG shots with graded planted defects and the usual traps (saturated highlights, starry
skies, a daylight burst with static edges, a star burst on a tracking mount, dark frames), ingests it into
a fresh store, and scores ``hpstore query --top 20`` per source:

- strong and medium defects in the top 20 (RAW: all; JPEG: at least 90 %);
- entries in the top 20 that are no defect (RAW: at most 2; JPEG: at most 4);
- the class right in at least 9 of 10 found defects;
- per class: recall (planted found) and precision (reported entries of that class that are a defect of it).

``rawpy.enhance.find_bad_pixels`` runs on the same DNG files, hot and dead detection separately (run
together, its unsigned |raw - median| wraps around and flags every pixel darker than its median), at its
default confirm ratio 0.9. It returns an unranked set, scored for recall and precision the same way.
It needs scikit-image or OpenCV: ``pip install scikit-image``.

The second part, real life (issue 13; ``bench/real_life.py``), runs the same cameras and defect-free ones
on scenes cropped from real photos, with JPEGs developed by LibRaw, for archives of four habits (mixed,
daylight, night, darks), ingested in shuffled batches: false alarms per defect-free camera, a calibration
table of confidence against the truth, and the dating of first_seen.

Run from the repository root::

    python bench/detection.py                 # both parts, 150 shots per camera, about 6 minutes
    python bench/detection.py --part acceptance --shots 60 --json out.json
    python bench/detection.py --part real-life --scenes ~/Pictures/some-folder --seed 7 --order time
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from real_life import DEFAULT_SCENES, run

from hpstore.commands.query import query
from hpstore.ingest.pipeline import ingest
from hpstore.settings import load_settings
from hpstore.testing.evaluation import EVAL_CAMERAS, MIXES, Evaluation, Planted, evaluate, write_eval_archive

TARGETS = {"raw": (1.0, 2), "rgb": (0.9, 4)}  # share of strong+medium found, most non-defects in the top 20
MIN_CLASS_RIGHT = 0.9


def rawpy_rows(paths: Sequence[Path], planted: Sequence[Planted]) -> list[dict[str, Any]] | str:
    """find_bad_pixels' hot and dead findings as query-like rows, or why it could not run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from rawpy.enhance import find_bad_pixels
        except ImportError as err:
            return f"rawpy.enhance unavailable: {err}"
    rows: list[dict[str, Any]] = []
    for kind, hot in (("hot", True), ("dead", False)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-image's rank filter warns on every 14-bit frame
            found = find_bad_pixels([str(p) for p in paths], find_hot=hot, find_dead=not hot)
        rows += [{"row": int(r), "col": int(c), "kind": kind, "score": 0.0} for r, c in found]
    return rows


def verdict(ev: Evaluation) -> tuple[bool, str]:
    s = ev.summary()
    share, most_false = TARGETS[ev.source]
    found_ok = s["strong_medium_found"] >= share * s["strong_medium_planted"] - 1e-9
    false_ok = s["not_defects"] <= most_false
    class_ok = s["found"] == 0 or s["class_right"] >= MIN_CLASS_RIGHT * s["found"]
    text = (
        f"strong+medium {s['strong_medium_found']}/{s['strong_medium_planted']} "
        f"({'ok' if found_ok else 'FAIL'}), weak {s['weak_found']}, "
        f"not defects {s['not_defects']} ({'ok' if false_ok else 'FAIL'}), "
        f"class right {s['class_right']}/{s['found']} ({'ok' if class_ok else 'FAIL'})"
    )
    return found_ok and false_ok and class_ok, text


def per_class_table(title: str, evals: Sequence[Evaluation]) -> list[str]:
    totals: dict[str, dict[str, int]] = {}
    for ev in evals:
        for kind, row in ev.per_class().items():
            t = totals.setdefault(kind, {"planted": 0, "found": 0, "reported": 0, "right": 0})
            for key in t:
                t[key] += int(row[key])
    head = f"{'planted':>7s} {'found':>6s} {'recall':>7s} {'reported':>9s} {'right':>6s} {'precision':>9s}"
    lines = [title, f"  {'class':12s} {head}"]
    for kind, t in sorted(totals.items()):
        recall = f"{t['found'] / t['planted']:.2f}" if t["planted"] else "-"
        precision = f"{t['right'] / t['reported']:.2f}" if t["reported"] else "-"
        counts = f"{t['planted']:7d} {t['found']:6d} {recall:>7s} {t['reported']:9d} {t['right']:6d}"
        lines.append(f"  {kind:12s} {counts} {precision:>9s}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shots", type=int, default=150, help="shots per camera (default 150)")
    parser.add_argument("--cameras", type=int, default=len(EVAL_CAMERAS), help="how many evaluation cameras")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--part", choices=("acceptance", "real-life", "all"), default="all")
    parser.add_argument(
        "--scenes", type=Path, nargs="+", default=[DEFAULT_SCENES], help="real photos (files or folders) to crop "
        "the real-life scenes from (default: tests/data/real)"
    )  # fmt: skip
    parser.add_argument("--mixes", nargs="+", choices=tuple(MIXES), default=list(MIXES), help="archive habits")
    parser.add_argument("--order", choices=("shuffled", "time"), default="shuffled", help="real-life ingest order")
    parser.add_argument("--seed", type=int, default=100, help="real-life seed (the acceptance part uses 0-2)")
    parser.add_argument("--keep", type=Path, help="write the real-life photos and store here, and keep them")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"shots": args.shots, "cameras": {}}
    if args.part != "acceptance":
        with tempfile.TemporaryDirectory(prefix="hpstore-real-") as tmp:
            where = args.keep or Path(tmp)
            results["real_life"] = run(
                where, scenes_from=args.scenes, shots=args.shots, mixes=args.mixes, order=args.order,
                seed=args.seed, verdict=verdict,
            )  # fmt: skip
            if args.keep:
                print(
                    f"\nphotos and store kept in {args.keep} (HPSTORE_STORE={args.keep / 'store'} hpstore query)"
                )
        if args.part == "real-life":
            if args.json:
                args.json.write_text(json.dumps(results, indent=2, default=str))
            return 0
        print()
    evals: dict[str, list[Evaluation]] = {"raw": [], "rgb": [], "rawpy": []}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="hpstore-detect-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        planted_by: dict[str, tuple[Planted, ...]] = {}
        archives = {}
        for seed, camera in enumerate(EVAL_CAMERAS[: args.cameras]):
            archive, planted = write_eval_archive(
                root / "photos" / camera.model, camera, shots=args.shots, seed=seed
            )
            planted_by[camera.serial or camera.model] = planted
            archives[camera.serial or camera.model] = archive
        print(
            f"wrote {args.cameras} archives of {args.shots} RAW+JPEG shots in {time.monotonic() - started:.0f} s"
        )
        settings = load_settings(env={}, store=root / "store")
        report = ingest([str(root / "photos")], settings)
        print(f"ingest: {report.summary}\n")
        for serial, planted in planted_by.items():
            cam: dict[str, Any] = {}
            for source in ("raw", "rgb"):
                ev = evaluate(planted, query(settings, camera=serial, source=source, top=20), source)
                ok, text = verdict(ev)
                failures += not ok
                evals[source].append(ev)
                cam[source] = {**ev.summary(), "per_class": ev.per_class(), "pass": ok}
                print(f"{serial} {source.upper():4s} {'PASS' if ok else 'FAIL'}  {text}")
            dngs = [shot.paths["dng"] for shot in archives[serial].shots]
            rows = rawpy_rows(dngs, planted)
            if isinstance(rows, str):
                print(f"{serial} rawpy.enhance: {rows}")
            else:
                ev = evaluate(planted, rows, "raw")
                evals["rawpy"].append(ev)
                s = ev.summary()
                cam["rawpy"] = {**s, "per_class": ev.per_class()}
                print(
                    f"{serial} rawpy.enhance.find_bad_pixels: {s['listed']} pixels, strong+medium "
                    f"{s['strong_medium_found']}/{s['strong_medium_planted']}, weak {s['weak_found']}, "
                    f"not defects {s['not_defects']}"
                )
            results["cameras"][serial] = cam
        print()
        for title, key in (
            ("hpstore, RAW, top 20", "raw"),
            ("hpstore, JPEG, top 20", "rgb"),
            ("rawpy.enhance.find_bad_pixels (hot and dead runs), RAW", "rawpy"),
        ):
            if evals[key]:
                print("\n".join(per_class_table(title, evals[key])))
    print(f"\n{failures} camera/source verdict(s) FAIL" if failures else "\nall verdicts PASS")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
