"""``hpstore`` commands. Each parses its options, calls one library function and prints the result."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from hpstore import Kind, Period, Source, Status
from hpstore.detect.classes import MIN_SCORE
from hpstore.errors import BadArgument, HpstoreError, Interrupted

from .output import Format, print_report, print_rows
from .progress import IngestView
from .quiet import third_party_output

if TYPE_CHECKING:
    from hpstore.api import Store

# The library (numpy, zarr, SQLAlchemy) is imported inside the commands that use it: `--help` stays instant.
app = typer.Typer(
    help="Find hot, stuck and dead sensor pixels in your photo archive, and keep the evidence in a store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
T = TypeVar("T")


@dataclass(frozen=True)
class Ctx:
    store: str | None
    catalog: str | None
    debug: bool


def open_store(ctx: typer.Context, **options: Any) -> Store:
    """The store ``--store`` names (else ``$HPSTORE_STORE``, else the per-user default)."""
    import hpstore.api

    return call(ctx, hpstore.api.open, ctx.obj.store, catalog=ctx.obj.catalog, **options)


def parsed(ctx: typer.Context, flag: str, parse: Callable[[str], T], text: str) -> T:
    """An option's text parsed into its type; a bad value is a usage error that names the option."""
    try:
        return parse(text)
    except BadArgument as err:
        fail(f"{flag}: {err}", 2)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"hpstore: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def call(ctx: typer.Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call; turn its errors into one line and an exit code (a traceback with --debug)."""
    debug = ctx.obj.debug if isinstance(ctx.obj, Ctx) else False
    try:
        return fn(*args, **kwargs)
    except KeyboardInterrupt:
        print("hpstore: interrupted; run the same command again to go on", file=sys.stderr)
        raise typer.Exit(130) from None
    except Interrupted as err:
        print(f"hpstore: {err}", file=sys.stderr)
        raise typer.Exit(130) from None
    except HpstoreError as err:
        if debug:
            traceback.print_exc()
        fail(str(err), 2 if isinstance(err, BadArgument) else 1)
    except Exception as err:
        if debug:
            traceback.print_exc()
        fail(f"unexpected {err.__class__.__name__}: {err} (run with --debug for the traceback)", 3)


@app.callback()
def main(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            help="Store directory (Zarr state + SQLite catalog), or a store on object storage: "
            "s3://bucket/prefix (also gs://, az://; credentials and endpoint from AWS_* variables such as "
            "AWS_ENDPOINT_URL), which needs a server catalog. Default: $HPSTORE_STORE, else a folder in "
            "your user data directory.",
            show_default=False,
        ),
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of a shared catalog, e.g. postgresql+psycopg://user@host/db. Default: "
            "$HPSTORE_CATALOG, else the SQLite file in the store directory.",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show tracebacks of errors, and what other libraries print (warnings, log records, LibRaw's "
            "messages), which is hidden otherwise.",
        ),
    ] = False,
) -> None:
    """Find hot, stuck and dead sensor pixels in your photo archive, and keep the evidence in a store."""
    ctx.obj = Ctx(store, catalog, debug)
    ctx.with_resource(third_party_output(debug))


CAMERA_HELP = "Camera id, serial, or text of its make/model."
FORMAT_HELP = "Output format: table (or text) for people, json or csv for scripts."
SOURCE_HELP = "raw (CFA mosaic) or rgb (developed images)."
FormatOption = Annotated[Format, typer.Option("--format", help=FORMAT_HELP)]


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(help="Files, folders (walked recursively) and glob patterns.", show_default=False),
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no per-file lines.")] = False,
    workers: Annotated[int | None, typer.Option(min=1, help="Decoder threads (default: CPUs).")] = None,
    fmt: FormatOption = Format.text,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="If another ingest is writing the store: wait for it, or refuse."),
    ] = True,
    period: Annotated[
        Period | None,
        typer.Option(
            help="Calendar period of the states new photos go to (default: $HPSTORE_PERIOD, else year). Finer "
            "periods answer --since/--until without re-reading photos and cost one dense state per period.",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Ingest on a Dask cluster: the scheduler's address, e.g. tcp://scheduler:8786 (default: "
            "$HPSTORE_DASK). Its workers must reach the files at the same paths, and the store when it is on "
            "object storage; pip install 'hpstore[cluster]' on every machine.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Add photos (JPEG, PNG, TIFF, and RAW files LibRaw reads) to the store.

    Files already in the catalog are passed over, so running the same command again is cheap and
    resumes an interrupted run. Every file gets a catalog row: ingested, duplicate, failed or skipped.

    Work is committed in batches (at least every HPSTORE_COMMIT_SECONDS, default 60): a crash or kill
    loses at most the batch in flight. Ctrl-C stops at the next safe point and keeps what was committed.
    One ingest writes a store at a time; a second one waits for it (--no-wait: refuses). Queries can run
    meanwhile and see the last committed state.
    """
    store = open_store(ctx, workers=workers, period=period)
    with IngestView(quiet or not fmt.human) as view:
        report = call(ctx, store.ingest, paths, on_event=view, wait=wait, dask=dask)
    if print_report({"store": store.location, **report.to_dict()}, fmt):
        return
    if report.ingested == 0 and report.unchanged and not (report.failed or report.duplicates):
        print(f"nothing new to ingest ({report.unchanged} files already in the store)")
    else:
        print(report.summary)


QUERY_COLUMNS = [
    "camera",
    "source",
    "row",
    "col",
    "channel",
    "kind",
    "score",
    "n",
    "mean",
    "std",
    "z_mean",
    "z_std",
    "z_long",
    "dark_rate",
    "confidence",
    "first_seen",
    "last_seen",
]
SINCE_HELP = "Only photos captured from this date on: YYYY, YYYY-MM or YYYY-MM-DD."
UNTIL_HELP = "Only photos captured up to this date, inclusive: YYYY, YYYY-MM or YYYY-MM-DD (2021 = end of 2021)."


def _date(ctx: typer.Context, flag: str, text: str | None) -> str | None:
    """A date option, checked here so that its error names the option; the library takes the text, which
    (unlike a ``date``) can name a whole year or month."""
    from hpstore.timeaxis.periods import parse_date

    if text is not None:
        parsed(ctx, flag, parse_date, text)
    return text


@app.command()
def query(
    ctx: typer.Context,
    camera: Annotated[str | None, typer.Option(help=CAMERA_HELP)] = None,
    source: Annotated[Source | None, typer.Option(help=SOURCE_HELP)] = None,
    top: Annotated[int, typer.Option(min=1, help="How many pixels to list.")] = 20,
    min_score: Annotated[float, typer.Option(help="Only pixels scoring at least this (robust z).")] = MIN_SCORE,
    kind: Annotated[Kind | None, typer.Option(help="Only this class.")] = None,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP, show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help=UNTIL_HELP, show_default=False)] = None,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only entries at least this likely to be real defects (0-1).")
    ] = 0.0,
    fmt: FormatOption = Format.table,
) -> None:
    """Rank suspicious pixels, best first, one entry per defect, with its class and a confidence.

    Each pixel's mean across photos is compared with its same-colour neighbours (robust z-scores), over
    all photos and over the long exposures alone, and must lie on its side of its neighbours photo after
    photo (a sign test, `consistency`): hot pixels that grow with exposure rank high; scenes, clipped skies
    and stars do not. Classes: hot and warm (dark current, fitted against ISO x time), stuck, dead, partial
    (an offset that grows with ISO), bad_column, bad_row. `confidence` is the probability that the entry is
    a real defect. Coordinates are (row, col) of the stored array, EXIF orientation not applied.

    Each defect carries first_seen and last_seen: the capture times of the first and last photo in which
    it stood out. --since/--until rank as the photos captured in that window would (a window that cuts a
    store period re-reads that period's photos from disk).
    """
    since, until = _date(ctx, "--since", since), _date(ctx, "--until", until)
    store = open_store(ctx)
    defects = call(
        ctx,
        store.query,
        camera=camera,
        source=source,
        top=top,
        min_score=min_score,
        kind=kind,
        since=since,
        until=until,
        min_confidence=min_confidence,
    )
    print_rows([d.to_dict() for d in defects], QUERY_COLUMNS, fmt)


def _pixel(ctx: typer.Context, text: str) -> tuple[int, int]:
    from hpstore.commands.choose import parse_pixel

    return parsed(ctx, "--pixel", parse_pixel, text)


@app.command()
def show(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    pixel: Annotated[str, typer.Option(help="ROW,COL of the stored array.", show_default=False)],
    source: Annotated[Source | None, typer.Option(help="Only this source (default: both).")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Explain one pixel: its statistics next to its neighbourhood's, per source and channel, and why it
    got its class."""
    at = _pixel(ctx, pixel)
    rows = [r.to_dict() for r in call(ctx, open_store(ctx).show, camera, at, source=source)]
    if not fmt.human:
        print_rows(rows, ["camera", "source", "row", "col", "channel", "kind", "score", "n", "mean", "std"], fmt)
        return
    for r in rows:
        verdict = r["kind"] if r["likely_defect"] else "normal"
        print(
            f"{r['camera']} {r['source']} {r['geometry']} pixel {r['row']},{r['col']} {r['channel']}: "
            f"{verdict} (score {r['score']:.1f})"
        )
        print(f"  {r['why']}")
        if r.get("seen_in"):
            dates = f", first {r['first_seen']}, last {r['last_seen']}" if r.get("first_seen") else ""
            print(f"  stood out from its neighbours in {r['seen_in']} photos{dates}")
        for k in r.get("exposure_classes", []):
            weight = "?" if k["dark_weight"] is None else f"{k['dark_weight']:.3g}"
            print(
                f"  {k['exposure']:5s} exposures: {k['n']} photos (mean dark weight {weight} s at ISO 100): "
                f"mean"
                f" {k['mean']:.4g} vs {k['neighbour_mean']:.4g}, spread {k['std']:.4g} vs {k['neighbour_std']:.4g}"
            )


HISTORY_COLUMNS = [
    "source",
    "period",
    "photos",
    "long_photos",
    "stood_out",
    "excess_mean",
    "mean",
    "std",
    "neighbour_mean",
    "neighbour_std",
    "z_mean",
]


@app.command()
def history(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    pixel: Annotated[str, typer.Option(help="ROW,COL of the stored array.", show_default=False)],
    period: Annotated[Period, typer.Option(help="Calendar period to count by.")] = Period.MONTH,
    source: Annotated[Source | None, typer.Option(help="Only this source (default: both).")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """One pixel over time, per period: its photos, in how many it stood out from its neighbours and by
    how much (DN), and its mean and spread against its neighbourhood.

    The mean and spread come from the store's dense state, kept per year unless ingest used a finer
    --period; at finer periods only the per-photo evidence is shown.
    """
    at = _pixel(ctx, pixel)
    rows = [r.to_dict() for r in call(ctx, open_store(ctx).history, camera, at, period=period, source=source)]
    print_rows(rows, HISTORY_COLUMNS, fmt)


@app.command()
def timeline(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    period: Annotated[Period, typer.Option(help="Calendar period to count by.")] = Period.YEAR,
    source: Annotated[
        Source | None, typer.Option(help="Only this source (default: raw when there is any).")
    ] = None,
    sensor_size: Annotated[
        str | None,
        typer.Option(
            help="Sensor WIDTHxHEIGHT in mm, e.g. 23.5x15.6, for defects per mm² (default: from the photos' EXIF "
            "focal-plane resolution, when they have it)."
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Most defects to date.")] = 500,
    min_score: Annotated[float, typer.Option(help="Only defects scoring at least this.")] = MIN_SCORE,
    plot: Annotated[Path | None, typer.Option(help="Also draw the timeline as a PNG chart here.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """How a camera's sensor ages: defects present per period by class, new defects per year, and new
    defects per year per megapixel and per mm² of sensor (size from EXIF, or --sensor-size)."""
    from hpstore.commands.history import parse_sensor

    sensor = None if sensor_size is None else parsed(ctx, "--sensor-size", parse_sensor, sensor_size)
    store = open_store(ctx)
    found = call(
        ctx, store.timeline, camera, period=period, source=source, sensor_mm=sensor, top=top, min_score=min_score
    )
    result = found.to_dict()
    if plot is not None:
        from hpstore.commands.chart import plot_timeline

        call(ctx, plot_timeline, result, plot)
    if fmt is Format.json:
        print(json.dumps(result, indent=2))
        return
    periods = result["periods"]
    table = [{**r, "by_class": ", ".join(f"{k} {v}" for k, v in sorted(r["by_class"].items()))} for r in periods]
    print_rows(table, ["period", "photos", "present", "new", "by_class"], fmt)
    if fmt.human:
        r, per_mm2 = result, result["new_per_year_per_mm2"]
        print(
            f"{r['camera']} {r['source']} {r['geometry']} ({r['megapixels']:.3g} MP): "
            f"{r['defects']} defects, {r['at_start']} there from the start, "
            f"{r['new_per_year']:.3g} new per year = {r['new_per_year_per_megapixel']:.3g} per year per MP"
            + (f" = {per_mm2:.3g} per year per mm²" if per_mm2 is not None else "")
        )
        if plot is not None:
            print(f"chart written to {plot}")


MAP_FORMATS = ("dcraw", "rawtherapee", "siril", "dng", "csv", "json")


@app.command()
def export(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    to: Annotated[str, typer.Option("--to", help=f"Map format: {', '.join(MAP_FORMATS)}.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the map here (into a folder: under the name its program looks for). Default: stdout.",
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Most entries in the map.")] = 1000,
    min_score: Annotated[float, typer.Option(help="Only entries scoring at least this (robust z).")] = MIN_SCORE,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only entries at least this likely to be real defects (0-1).")
    ] = 0.5,
    kind: Annotated[Kind | None, typer.Option(help="Only this class.")] = None,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP, show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help=UNTIL_HELP, show_default=False)] = None,
    geometry: Annotated[
        str | None, typer.Option(help="WIDTHxHEIGHT of the RAW photos to map, when the camera has several sizes.")
    ] = None,
    install: Annotated[
        bool,
        typer.Option(
            "--install", help="rawtherapee: write the map where RawTherapee reads it (its dark-frame folder)."
        ),
    ] = False,
) -> None:
    """Write a camera's defects as a map for another program, with the query's filters.

    `dcraw`: the bad pixel file dcraw and LibRaw read with `-P` (`col row unix_time` per photosite, in the
    RAW mosaic without its masked margins, as `dcraw -D` writes it); the time is the defect's first_seen,
    so each defect is mapped out of the photos taken from its onset on; a bad column lists each photosite.

    `rawtherapee`: the camera's `<Make> <Model>.badpixels` (LibRaw's names), `x y` per photosite;
    --install puts it in the folder RawTherapee's preferences give for dark frames. RawTherapee maps them
    out of every photo of the camera (use --until to map only what had appeared by a date).

    `siril`: the list `cosme_cfa` reads (`P x y H|C`, `C x 0` for a column, y from the top).

    `dng`: the value of a DNG OpcodeList1 tag with a FixBadPixelsList opcode (binary), laid out as the
    camera's newest DNG; `hpstore fix` writes it into DNG copies.

    `csv`, `json`: the query's fields, for scripts. Entries that are light in the scene (`extended`) are
    never mapped.
    """
    since, until = _date(ctx, "--since", since), _date(ctx, "--until", until)
    if install:  # before the ranking: a wrong option or a missing folder fails at once
        if to != "rawtherapee":
            fail("--install places RawTherapee's map only; give -o for the others", 2)
        from hpstore.export.maps import rawtherapee_folder

        output = call(ctx, rawtherapee_folder, dict(os.environ), Path.home())
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            fail(f"cannot make RawTherapee's dark-frame folder {output}: {err.strerror or err}")
    found = call(
        ctx,
        open_store(ctx).export,
        camera,
        to,
        top=top,
        kind=kind,
        min_score=min_score,
        min_confidence=min_confidence,
        since=since,
        until=until,
        geometry=geometry,
    )
    if output is None:
        sys.stdout.buffer.write(found.content)
        return
    target = output / found.filename if output.is_dir() else output
    try:
        target.write_bytes(found.content)
    except OSError as err:
        fail(f"cannot write {target}: {err.strerror or err}")
    print(f"{found.entries} defects ({found.photosites} photosites) of camera {found.camera} written to {target}")


@app.command()
def fix(
    ctx: typer.Context,
    photos: Annotated[list[str], typer.Argument(help="Photos: files, folders, patterns.", show_default=False)],
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the repaired copies (never a photo's own).")],
    min_score: Annotated[float, typer.Option(help="Only defects scoring at least this (robust z).")] = MIN_SCORE,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only defects at least this likely to be real (0-1).")
    ] = 0.5,
    fmt: FormatOption = Format.text,
) -> None:
    """Write repaired copies of a camera's JPEG, PNG, TIFF and DNG photos into --out.

    Each defect active at a photo's capture time is painted over, with its JPEG smear, from the pixels
    around it. A JPEG is encoded again with its own quantization tables and chroma subsampling, and keeps
    its EXIF, ICC profile and XMP; PNG and TIFF copies are lossless. A DNG copy gets the defects as a
    FixBadPixelsList opcode (applied by Adobe Camera Raw and Lightroom) and, where its data is
    uncompressed, repaired photosites. Originals are never touched; other RAW formats are left to the raw
    converter (`hpstore export`).
    """
    store = open_store(ctx)
    results = call(ctx, store.fix, camera, photos, out, min_score=min_score, min_confidence=min_confidence)
    if not fmt.human:
        print_rows([r.to_dict() for r in results], ["path", "status", "output", "repaired", "reason"], fmt)
        return
    for r in results:
        if r.status == "fixed":
            print(f"{r.path}: {r.repaired} defects repaired -> {r.output}")
        else:
            print(f"{r.path}: {r.status}: {r.reason}")
    counts = {s: sum(r.status == s for r in results) for s in ("fixed", "unchanged", "skipped")}
    print(", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def report(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option(help=CAMERA_HELP, show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML page to write.", show_default=False)],
    png: Annotated[Path | None, typer.Option("--png", help="Also write the sensor map as a PNG here.")] = None,
    source: Annotated[
        Source | None, typer.Option(help="Only this source (default: raw when there is any).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Most defects on the page.")] = 1000,
    min_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only defects at least this likely to be real (0-1).")
    ] = 0.5,
) -> None:
    """Write one self-contained HTML page about a camera's sensor: the sensor with each defect placed by
    class and score, a close-up of each defect from a photo where it stood out next to its neighbourhood,
    its history per period, and the timeline chart. Every image is embedded: the page opens offline."""
    import base64

    found = call(ctx, open_store(ctx).report, camera, source=source, top=top, min_confidence=min_confidence)
    try:
        output.write_text(found.html, encoding="utf-8")
        if png is not None:
            png.write_bytes(base64.b64decode(found.png.split(",", 1)[1]))
    except OSError as err:
        fail(f"cannot write the report: {err.strerror or err}")
    print(f"{found.defects} defects of camera {found.camera} ({found.source}), {found.crops} shown in close-up: "
          f"{output}" + (f", map {png}" if png is not None else ""))  # fmt: skip


@app.command()
def compact(
    ctx: typer.Context,
    before: Annotated[
        str,
        typer.Option(
            help="Merge the periods that end by this date: YYYY, YYYY-MM or YYYY-MM-DD.", show_default=False
        ),
    ],
    camera: Annotated[str | None, typer.Option(help="Only this camera (id, serial or make/model).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be merged; change nothing.")] = False,
    fmt: FormatOption = Format.text,
) -> None:
    """Merge each camera's periods that end by --before into one, to bound the store's size.

    A dense state costs the same whatever the number of photos in it, so ten yearly periods cost ten times
    one. After merging, first_seen/last_seen and the default ranking are unchanged; --since/--until inside
    the merged span re-read its photos from disk.
    """
    from hpstore.timeaxis.periods import parse_date

    when = parsed(ctx, "--before", parse_date, before)
    report = call(ctx, open_store(ctx).compact, when, camera=camera, dry_run=dry_run)
    if print_report(report.to_dict(), fmt):
        return
    for m in report.merged:
        periods = ", ".join(m["periods"])
        verb = "would merge" if dry_run else "merged"
        what = f"{m['camera']} {m['source']} {m['exposure']}"
        print(f"{what}: {verb} {periods} into {m['into']} ({m['photos']} photos)")
    if not report.merged:
        print(f"nothing to merge: no camera has two or more periods ending by {before}")
    print(f"state: {report.bytes_before / 1e6:.1f} MB before, {report.bytes_after / 1e6:.1f} MB after")


@app.command()
def cameras(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List cameras: id, make, model, serial, sources, geometries, photos and capture dates.

    Cameras are told apart by make, model and body serial (EXIF, DNG or the maker's MakerNote). A camera
    without a serial is a make and model: its note says that photos of several bodies would share it.
    """
    found = call(ctx, open_store(ctx).cameras)
    columns = ["id", "make", "model", "serial", "sources", "geometries", "photos", "first_capture", "last_capture"]
    print_rows([c.to_dict() for c in found], columns, fmt)
    if fmt.human:
        for cam in found:
            if cam.note:
                print(f"note: camera {cam.id}: {cam.note}")


@app.command()
def files(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only files of this status.")] = None,
    camera: Annotated[
        str | None, typer.Option(help="Only files of this camera (id, serial or make/model).")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List every file the catalog knows, with its status and the reason for it."""
    found = call(ctx, open_store(ctx).files, status=status, camera=camera)
    print_rows([f.to_dict() for f in found], ["path", "status", "reason", "camera", "source"], fmt)


@app.command("check")
def check_store(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Remove leftovers of interrupted commits, and move photos an older hpstore filed under the "
            "wrong camera to theirs, rebuilding the states concerned from the photos.",
        ),
    ] = False,
    fmt: FormatOption = Format.text,
) -> None:
    """Verify the store: every state readable, frame counts equal to the catalog's, no leftovers, and every
    photo an older hpstore identified with the camera the current reader gives it (serials from MakerNotes,
    DNG directories anywhere in the file).

    Exits 0 when the store is sound (after --repair, if it repaired everything), 1 otherwise.
    """
    report = call(ctx, open_store(ctx).check, repair=repair)
    if not print_report(report.to_dict(), fmt):
        for line in report.repaired:
            print(f"repaired: {line}")
        for line in report.problems:
            print(f"problem: {line}")
        for line in report.notes:
            print(f"note: {line}")
        print(f"{'ok' if report.ok else 'NOT ok'}: {report.groups} state groups, {report.files} files checked")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    ctx: typer.Context,
    photos: Annotated[int, typer.Option(min=3, help="Shots in the synthetic archive.")] = 40,
    keep: Annotated[
        Path | None,
        typer.Option(
            help="Keep archive and store in this folder (default: a temporary folder, removed afterwards)."
        ),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Simulate a camera with planted defects, ingest its RAW+JPEG archive into a throw-away store, query it."""
    from hpstore.commands.demo import run_demo

    with IngestView(quiet=not fmt.human) as view:
        result = call(ctx, run_demo, photos=photos, keep=keep, on_event=view)
    print_rows(result.rows, QUERY_COLUMNS, fmt)
    if fmt.human:
        print(result.summary)


def run() -> None:
    """Console-script entry point."""
    app(prog_name="hpstore")


if __name__ == "__main__":
    run()
