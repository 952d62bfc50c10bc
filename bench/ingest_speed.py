"""Ingest speed of hpstore, as ratios against baselines measured in the same run (issue 2).

What it measures, on 24 MP JPEGs (6000 x 4000 RGB; ``--content sim``: scenes of ``hpstore.testing.simulator``,
``--content textured``: detailed frames that decode as slowly as camera JPEGs; cached between runs):

1. ingest throughput against (a) plain decoding of the same, page-cache-warm files with the same number
   of threads (``simplejpeg.decode_jpeg`` into a preallocated buffer, hpstore's own decoder) and (b) the
   2011 loop (Pillow + float64 Welford with temporaries, one process) on a few of the files;
2. peak RSS of an ingest of N and of 2N photos, each in a fresh process and store: it must not grow;
3. time of ``StateStore.write`` of one 24 MP RGB state (taken from the ingest) against writing the same
   bytes with ``ndarray.tofile`` + ``os.fsync`` to the same disk;
4. the share of ingest wall time spent committing (state write time x commits / ingest time);
5. exactness: stored mean and variance of a few small frames against ``numpy.mean`` / ``numpy.var``.

Speed is judged by ratios, never by absolute times. The script always exits 0: it is a report, and a
figure that misses its target is printed as FAIL.

Run from the repository root::

    python bench/ingest_speed.py                    # full run, a few minutes on 2 cores
    python bench/ingest_speed.py --quick            # smoke run
    python bench/ingest_speed.py --content textured --frames 64 --workers 2 --batch-mb 2400
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from hpstore import stats
from hpstore.ingest.pipeline import Event, ingest, ring_size
from hpstore.settings import Settings, load_settings
from hpstore.store.state import LocalStateStore
from hpstore.store.storage import Storage
from hpstore.testing.simulator import CameraSpec, plant_defects, write_archive
from hpstore.timeaxis.families import family_state
from hpstore.timeaxis.window import families

HEIGHT, WIDTH = 4000, 6000  # 24 MP, landscape (row, col)
SMALL = (400, 600)  # frames of the exactness check
STATE_BYTES = HEIGHT * WIDTH * 3 * 16  # float64 mean + M2
DEFAULT_CACHE = Path("/tmp/hpstore-bench-cache")

# Targets. Issue 2 gives 1a and 1b; the others are this benchmark's reading of "independent of the
# number of photos", "close to the disk" and "commits are a small share".
MIN_VS_DECODE = 0.8
MIN_VS_2011 = 10.0
MAX_RSS_GROWTH = 1.1
MAX_WRITE_VS_DISK = 1.5
MAX_COMMIT_SHARE = 0.10
MAX_REL_ERROR = 1e-9

# ru_maxrss survives exec: a child started straight from this (large) process reports our peak, not its
# own. A small launcher in between gives the child a fresh count.
_LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


@dataclass(frozen=True)
class Row:
    """One line of the result table; ``ok`` is None for figures shown for information only."""

    figure: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None


# ---- test data ----------------------------------------------------------------------------------------


def archive(cache: Path, content: str, shots: int, unique: int = 32) -> list[Path]:
    """``shots`` distinct 24 MP JPEGs of one camera, from the cache (generated there when missing).

    ``sim``: scenes of ``hpstore.testing.simulator`` (smooth, 1-3 MB files that decode fast); ``textured``: this
    script's photo-like frames with fine detail, 6-9 MB files that cost the decoder what camera JPEGs do.
    Only ``unique`` frames are rendered; the others are copies with a JPEG comment segment of their own:
    the same decoding work, but new content to hpstore (another hash), as a real archive would be.
    """
    base = _rendered(cache, content, min(unique, shots))
    if shots <= len(base):
        return base[:shots]
    folder = cache / f"{content}24-{len(base)}-x{shots}"
    if not (folder / "complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(shots):
            data = base[index % len(base)].read_bytes()
            comment = f"hpstore bench copy {index}".encode()
            segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
            (folder / f"V_{index:05d}.jpg").write_bytes(data[:2] + segment + data[2:])
        (folder / "complete").touch()
    return sorted(folder.glob("V_*.jpg"))[:shots]


def _rendered(cache: Path, content: str, shots: int) -> list[Path]:
    for done in sorted(cache.glob(f"{content}24-*/complete")):
        folder = done.parent
        if "-x" not in folder.name and int(folder.name.split("-")[1]) >= shots:
            return sorted(folder.glob("*.jpg"))[:shots]
    folder = cache / f"{content}24-{shots}"
    partial = cache / f"{content}24-{shots}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"generating {shots} 24 MP JPEGs into {folder} (once; ~2 s each) ...", flush=True)
    if content == "sim":
        camera = CameraSpec(height=HEIGHT, width=WIDTH)
        defects = plant_defects(camera, np.random.default_rng(1))
        write_archive(partial, camera, defects, shots, formats=("jpg",), seed=2)
    else:
        write_textured(partial, shots, seed=2)
    (partial / "complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return sorted(folder.glob("*.jpg"))


def write_textured(folder: Path, shots: int, seed: int) -> None:
    """Photo-like frames: smooth colour fields plus fine texture whose strength varies across the frame."""
    folder.mkdir(parents=True)
    exif = Image.Exif()
    exif[271], exif[272] = "Benchcam", "T24"  # Make, Model: one camera group
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :, None]
    tau = np.float32(2 * np.pi)
    for index in range(shots):
        rng = np.random.default_rng([seed, index])
        fx, fy, phase = rng.uniform(0.5, 3.0, (3, 3)).astype(np.float32)  # per channel
        image = 128 + 80 * np.sin(tau * (fx * x + fy * y + phase))
        gx, gy = rng.uniform(0.5, 4.0, 2).astype(np.float32)
        strength = float(rng.uniform(8, 20)) * (0.25 + 0.375 * (1 + np.sin(tau * (gx * x + gy * y))))
        image += rng.standard_normal(image.shape, dtype=np.float32) * strength
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"T24_{index:05d}.jpg", "JPEG", quality=92, exif=exif)


def small_archive(folder: Path, shots: int) -> list[Path]:
    camera = CameraSpec(height=SMALL[0], width=SMALL[1], model="Small")
    defects = plant_defects(camera, np.random.default_rng(3))
    write_archive(folder, camera, defects, shots, formats=("jpg",), seed=4)
    return sorted(folder.glob("*.jpg"))


def warm_page_cache(files: Sequence[Path]) -> int:
    """Read every file once so that timed runs read from memory; returns the bytes read."""
    return sum(len(path.read_bytes()) for path in files)


def fresh_memory_seconds_per_gib(gib: int = 1) -> float:
    """Seconds per GiB of the first touch of freshly allocated memory, as an ingest's ring and sums pay it.

    On bare metal that is the kernel's page faults (0.1-0.4 s per GiB). On a virtual machine that hands
    freed memory back to its host (free page reporting, here within about 2 s), every fresh page also
    traps to the hypervisor: measured here at 2.2-2.8 s per GiB. It is a cost of the run, so it is in the
    ingest figure; this shows how much of it is the machine's.
    """
    time.sleep(3)  # let memory freed before go back, as it has by the time an ingest allocates
    started = time.perf_counter()
    block = np.ones(gib << 30, np.uint8)
    seconds = time.perf_counter() - started
    del block
    return seconds / gib


# ---- baselines ----------------------------------------------------------------------------------------


def decode_seconds(files: Sequence[Path], workers: int) -> float:
    """Wall time of decoding ``files`` with ``workers`` threads into preallocated, pre-touched buffers."""
    buffers: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
    for _ in range(workers):
        buffers.put(np.zeros((HEIGHT, WIDTH, 3), np.uint8))

    def decode(path: Path) -> None:
        buffer = buffers.get()
        data = path.read_bytes()
        simplejpeg.decode_jpeg(data, colorspace="RGB", buffer=buffer)
        buffers.put(buffer)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        started = time.perf_counter()
        list(pool.map(decode, files))
        return time.perf_counter() - started


def loop_2011_seconds(files: Sequence[Path]) -> float:
    """Wall time of the 2011 loop: Pillow decode, then float64 Welford with temporaries, one frame at a time."""
    started = time.perf_counter()
    n, mean, m2 = 0, np.zeros((HEIGHT, WIDTH, 3)), np.zeros((HEIGHT, WIDTH, 3))
    for path in files:
        with Image.open(path) as im:
            x = np.asarray(im, dtype=np.float64)
        n += 1  # noqa: SIM113 - the loop as it was written, counter and all
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return time.perf_counter() - started


# ---- hpstore ------------------------------------------------------------------------------------------


def settings_for(store: Path, workers: int, batch_mb: int | None, **extra: object) -> Settings:
    return load_settings(env={}, store=store, workers=workers, batch_mb=batch_mb, **extra)


def warm_up_jit(folder: Path, workers: int) -> None:
    """Ingest two small frames into a scratch store, so numba compiles (or loads its cache) untimed."""
    files = small_archive(folder / "frames", 2)
    ingest([str(f) for f in files], settings_for(folder / "store", workers, None))


def batch_frames(settings: Settings) -> int:
    """Frames folded at once for 24 MP RGB, as ``hpstore.ingest.pipeline`` computes it."""
    return ring_size(HEIGHT * WIDTH * 3, settings)[1]


def stored_state(settings: Settings, group_id: int) -> tuple[stats.State, int]:
    """The committed state of a group and its generation (= commits made, in a fresh store)."""
    with Storage(settings, create=False) as store:
        group = store.catalog.get_group(group_id)
        return store.state.read(group.id, group.generation, group.n), group.generation


def fold_ms(files: Sequence[Path], k: int) -> tuple[float, float]:
    """(ms per frame of ``stats.add_slots`` for a batch of ``k`` decoded frames, ms of merging the sums into
    a state of frames already with ``stats.flush``), one thread, memory already touched: the two costs of
    ingest's fold (a commit does the merge chunk by chunk, inside its state write)."""
    stack = np.empty((k, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(k):  # files repeat when there are fewer than k: the cost does not depend on content
        simplejpeg.decode_jpeg(files[i % len(files)].read_bytes(), colorspace="RGB", buffer=stack[i])
    slots = np.arange(k)
    state = stats.update(stats.empty((HEIGHT, WIDTH, 3)), stack)
    sums = stats.add_slots(stats.sums_for(state.shape, np.uint8), stack, slots)
    stats.flush(state, sums)
    started = time.perf_counter()
    stats.add_slots(sums, stack, slots)
    add = (time.perf_counter() - started) / k * 1000
    started = time.perf_counter()
    stats.flush(state, sums)
    return add, (time.perf_counter() - started) * 1000


# ---- state write against the disk ---------------------------------------------------------------------


def best_of(action: Callable[[], object], cleanup: Callable[[], object], repeat: int = 2) -> float:
    """Fastest of ``repeat`` timed runs of ``action`` (disk timings on this VM vary by 2x between runs)."""
    times = []
    for _ in range(repeat):
        os.sync()  # start from a clean page cache, not behind earlier write-back
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
        cleanup()
    return min(times)


def state_write_seconds(state: stats.State, folder: Path) -> float:
    """Seconds of ``StateStore.write`` (which flushes its files to disk before returning)."""
    path = folder / "state.zarr"
    return best_of(lambda: LocalStateStore(path).write(1, 1, state), lambda: shutil.rmtree(path))


def raw_write_seconds(state: stats.State, folder: Path) -> float:
    """Seconds of writing mean and M2 with ``ndarray.tofile`` + ``os.fsync``."""
    paths = {name: folder / f"{name}.f64" for name in ("mean", "m2")}

    def write() -> None:
        for name, path in paths.items():
            with open(path, "wb") as fh:
                getattr(state, name).tofile(fh)
                fh.flush()
                os.fsync(fh.fileno())

    def cleanup() -> None:
        for path in paths.values():
            path.unlink()

    return best_of(write, cleanup)


# ---- peak RSS in fresh processes ----------------------------------------------------------------------


def child(files: Sequence[str], store: Path, workers: int, batch_mb: int | None) -> None:
    """``--child``: ingest ``files`` into ``store`` and print one JSON line with the peak RSS."""
    report = ingest(list(files), settings_for(store, workers, batch_mb))
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"ru_maxrss_kib": peak, "vmhwm_kib": hwm, "ingested": report.ingested}))


def peak_rss_mib(files: Sequence[Path], store: Path, workers: int, batch_mb: int | None) -> float:
    """Peak RSS (MiB) of a fresh process that ingests ``files`` into a fresh ``store``."""
    command = [sys.executable, "-c", _LAUNCH, sys.executable, os.path.abspath(__file__), "--child"]
    command += ["--store", str(store), "--workers", str(workers)]
    command += ["--batch-mb", str(batch_mb)] if batch_mb else []
    done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingest child failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["ingested"] != len(files):
        raise RuntimeError(f"child ingested {result['ingested']} of {len(files)} files")
    return float(result["ru_maxrss_kib"]) / 1024


# ---- exactness ----------------------------------------------------------------------------------------


def max_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest ``|got - want| / |want|``; where ``want`` is 0, ``got`` must be 0 (else the error is inf)."""
    diff = np.abs(got - want)
    scale = np.abs(want)
    if np.any(diff[scale == 0] > 0):
        return float("inf")
    return float(np.max(diff[scale > 0] / scale[scale > 0], initial=0.0))


def exactness(folder: Path, shots: int, workers: int) -> tuple[float, float]:
    """Relative errors of the stored mean and variance against numpy over the decoded frames.

    Two ingests with small batches, so that the integer batch fold, the Chan merge of batches and the
    re-read of a committed state all take part.
    """
    files = small_archive(folder / "frames", shots)
    settings = settings_for(folder / "store", workers, None, max_batch_frames=5)
    ingest([str(f) for f in files[: shots // 2 + 1]], settings)
    ingest([str(folder / "frames")], settings)
    with Storage(settings, create=False) as store:
        (family,) = families(store.catalog.groups())  # one camera and geometry; exposure classes merged
        found = family_state(store, family)
        assert found is not None
        state = found.state
    mean, var = stats.finalize(state)
    frames = np.stack([simplejpeg.decode_jpeg(f.read_bytes(), colorspace="RGB") for f in files]).astype(np.float64)
    if state.n != len(files):
        return float("inf"), float("inf")
    return max_relative_error(mean, frames.mean(axis=0)), max_relative_error(var, frames.var(axis=0))


# ---- the run ------------------------------------------------------------------------------------------


def fps(frames: int, seconds: float) -> str:
    return f"{frames / seconds:.2f} frames/s"


@dataclass
class Results:
    """Everything one run measures; times in seconds (``loop`` per frame, ``fold_*`` in ms per frame)."""

    frames: int
    workers: int
    rss_frames: int
    loop_frames: int
    commit_seconds: float = 60.0
    decode: float = 0.0
    ingest: float = 0.0
    commits: int = 0
    loop: float = 0.0
    read: float = 0.0
    write: float = 0.0
    raw: float = 0.0
    rss_n: float = 0.0
    rss_2n: float = 0.0
    mean_err: float = 0.0
    var_err: float = 0.0
    batch: int = 0
    fold_k: float = 0.0
    fold_16: float = 0.0
    flush: float = 0.0
    fresh: float = 0.0  # seconds per GiB of first touch of fresh memory
    fresh_gib: float = 0.0  # fresh memory an ingest of 24 MP RGB touches: ring and integer sums
    steady: float = 0.0  # seconds per frame over the middle half of the ingest (no start-up, no final commit)


def measure_speed(res: Results, files: Sequence[Path], settings: Settings) -> stats.State:
    """Figure 1 (and the commit count of figure 4); returns the state the ingest committed."""
    print(f"decode baseline and ingest of {res.frames} files, {res.workers} thread(s)", flush=True)
    res.decode = min(decode_seconds(files[: res.frames], res.workers) for _ in range(2))
    decoded: list[float] = []  # when each file's frame came out of the decoders, in the ingesting phase

    def on_event(event: Event) -> None:
        if event.kind == "phase":
            decoded.clear()  # identifying advances too; only the ingesting phase's advances count
        elif event.kind == "advance":
            decoded.append(time.perf_counter())

    report = ingest([str(f) for f in files[: res.frames]], settings, on_event=on_event)
    if report.ingested != res.frames:
        raise RuntimeError(f"ingested {report.ingested} of {res.frames} files: {report.summary}")
    res.ingest, res.commit_seconds = report.seconds, settings.commit_seconds
    # Whole batches of the middle half: from the first frame of a batch to the first frame of a later one,
    # so that the folds in between count. Too few files for two batches: the whole run.
    k = batch_frames(settings)
    first, last = -(-len(decoded) // 4 // k) * k, 3 * len(decoded) // 4 // k * k
    steady = last > first and last < len(decoded)
    res.steady = (decoded[last] - decoded[first]) / (last - first) if steady else res.ingest / res.frames
    print("2011 loop", flush=True)
    res.loop = loop_2011_seconds(files[: res.loop_frames]) / res.loop_frames
    started = time.perf_counter()
    state, res.commits = stored_state(settings, report.groups[0])
    res.read = time.perf_counter() - started
    return state


def measure_disk(res: Results, state: stats.State, tmp: Path) -> None:
    """Figure 3."""
    print("state write against the disk", flush=True)
    res.write = state_write_seconds(state, tmp)
    res.raw = raw_write_seconds(state, tmp)


def measure_rss(res: Results, files: Sequence[Path], tmp: Path, batch_mb: int | None) -> None:
    """Figure 2."""
    print(f"peak RSS of ingests of {res.rss_frames} and {2 * res.rss_frames} files", flush=True)
    res.rss_n = peak_rss_mib(files[: res.rss_frames], tmp / "rss1", res.workers, batch_mb)
    res.rss_2n = peak_rss_mib(files[: 2 * res.rss_frames], tmp / "rss2", res.workers, batch_mb)


def measure(args: argparse.Namespace, tmp: Path) -> Results:
    res = Results(args.frames, args.workers, args.rss_frames, args.loop_frames)
    files = archive(args.cache, args.content, max(args.frames, 2 * args.rss_frames, args.loop_frames))
    print(f"warming up: numba JIT, page cache of {len(files)} files", flush=True)
    warm_up_jit(tmp / "warmup", args.workers)
    mean_mb = warm_page_cache(files) / len(files) / 1e6
    res.fresh = fresh_memory_seconds_per_gib()
    settings = settings_for(tmp / "speed", args.workers, args.batch_mb)
    state = measure_speed(res, files, settings)
    shutil.rmtree(tmp / "speed")
    measure_disk(res, state, tmp)
    del state
    measure_rss(res, files, tmp, args.batch_mb)
    print("exactness; where the time goes", flush=True)
    res.mean_err, res.var_err = exactness(tmp / "exact", args.exact_frames, args.workers)
    res.batch = batch_frames(settings)
    res.fresh_gib = (ring_size(HEIGHT * WIDTH * 3, settings)[0] + 8) * HEIGHT * WIDTH * 3 / 2**30  # sums: 8 B
    res.fold_k, res.flush = fold_ms(files, res.batch)
    res.fold_16 = fold_ms(files, 16)[0] if res.batch != 16 else res.fold_k
    print(f"\n24 MP test photos: {args.content}, {mean_mb:.1f} MB per file on average")
    return res


def load_note(before: tuple[float, float, float]) -> str:
    """Load averages around the run: other work on the machine skews every ratio."""
    after = os.getloadavg()
    return f"load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}, on {os.cpu_count()} CPUs"


def table(res: Results, exact_frames: int) -> list[Row]:
    n, commit = res.frames, res.commits * res.write
    ingest_fps, decode_fps = n / res.ingest, n / res.decode
    streaming_fps = n / max(res.ingest - commit, 1e-9)
    projected = res.write / (res.commit_seconds + res.write)
    return [
        Row(f"1a ingest vs decode ({n} x 24 MP, {res.workers} thr)", fps(n, res.ingest), fps(n, res.decode),
            ingest_fps / decode_fps, f">= {MIN_VS_DECODE}", ingest_fps >= MIN_VS_DECODE * decode_fps),
        Row("   same, without commit time (est.)", f"{streaming_fps:.2f} frames/s", fps(n, res.decode),
            streaming_fps / decode_fps, "info", None),
        Row("   same, middle half of the files (steady)", f"{1 / res.steady:.2f} frames/s", fps(n, res.decode),
            1 / res.steady / decode_fps, "info", None),
        Row(f"1b ingest vs 2011 loop ({res.loop_frames} files)", fps(n, res.ingest),
            f"{1 / res.loop:.2f} frames/s", ingest_fps * res.loop, f">= {MIN_VS_2011:g}",
            ingest_fps * res.loop >= MIN_VS_2011),
        Row(f"2  peak RSS, {2 * res.rss_frames} vs {res.rss_frames} files", f"{res.rss_2n:.0f} MiB",
            f"{res.rss_n:.0f} MiB", res.rss_2n / res.rss_n, f"<= {MAX_RSS_GROWTH}",
            res.rss_2n <= MAX_RSS_GROWTH * res.rss_n),
        Row("   peak RSS vs state size", f"{res.rss_2n:.0f} MiB", f"{STATE_BYTES / 2**20:.0f} MiB",
            res.rss_2n * 2**20 / STATE_BYTES, "info", None),
        Row("3  StateStore.write vs tofile+fsync", f"{res.write:.2f} s", f"{res.raw:.2f} s", res.write / res.raw,
            f"<= {MAX_WRITE_VS_DISK}", res.write <= MAX_WRITE_VS_DISK * res.raw),
        Row(f"4  commit share, this run ({res.commits} commit)", f"{commit:.2f} s", f"{res.ingest:.2f} s",
            commit / res.ingest, "info", None),
        Row(f"   commit share, commit every {res.commit_seconds:g} s", f"{res.write:.2f} s",
            f"{res.commit_seconds + res.write:.2f} s", projected, f"<= {MAX_COMMIT_SHARE}",
            projected <= MAX_COMMIT_SHARE),
        Row(f"5  exactness, mean ({exact_frames} x {SMALL[1]}x{SMALL[0]})", f"{res.mean_err:.1e} rel",
            "numpy.mean", None, f"<= {MAX_REL_ERROR:g}", res.mean_err <= MAX_REL_ERROR),
        Row("   exactness, variance", f"{res.var_err:.1e} rel", "numpy.var", None, f"<= {MAX_REL_ERROR:g}",
            res.var_err <= MAX_REL_ERROR),
    ]  # fmt: skip


def print_budget(res: Results) -> None:
    """Where the ingest's time goes, per frame, next to the decode baseline."""
    n, commit = res.frames, res.commits * res.write
    print("Where the time goes, per frame")
    print(f"  decode baseline, all threads          {res.decode / n * 1000:8.1f} ms")
    print(f"  ingest, end to end                    {res.ingest / n * 1000:8.1f} ms")
    print(f"  ingest without commits (est.)         {(res.ingest - commit) / n * 1000:8.1f} ms")
    print(f"  stats.add_slots alone, batch of {res.batch:2d}    {res.fold_k:8.1f} ms   (the batch ingest picks)")
    print(f"  stats.add_slots alone, batch of 16    {res.fold_16:8.1f} ms")
    print(f"  sums merged into a state (stats.flush) {res.flush:7.0f} ms   (per commit, inside its state write)")
    print(f"  commits: {res.commits} x state write           {commit * 1000:8.0f} ms   (whole run)")
    print(f"  state read (StateStore.read)          {res.read * 1000:8.0f} ms   (once per group and run)")
    fresh = res.fresh * res.fresh_gib
    print(f"  first touch of fresh memory           {fresh / n * 1000:8.1f} ms   (thread time, once per run:")
    print(f"    {res.fresh_gib:.2f} GiB of ring and integer sums at {res.fresh:.2f} s/GiB measured in this run)")
    # A model of figure 1a: end to end = files x steady + a once-per-run cost, against decode = files x t.
    fixed = res.ingest - n * res.steady
    print(f"  once per run (end to end - files x steady) {fixed:4.1f} s   (start-up, first touch, final commit)")
    margin = res.decode / n / MIN_VS_DECODE - res.steady
    reach = f"from about {fixed / margin:.0f} files" if margin > 0 else "never (the steady state is below it)"
    print(f"  1a at this steady state and once-per-run cost reaches {MIN_VS_DECODE}: {reach}")


def print_table(rows: Sequence[Row]) -> None:
    head = f"{'figure':<46} {'measured':>16} {'baseline':>16} {'ratio':>8} {'target':>9}  result"
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        ratio = f"{row.ratio:.3g} x" if row.ratio is not None else "-"
        verdict = "info" if row.ok is None else ("PASS" if row.ok else "FAIL")
        print(f"{row.figure:<46} {row.measured:>16} {row.baseline:>16} {ratio:>8} {row.target:>9}  {verdict}")
    failed = [row.figure.strip() for row in rows if row.ok is False]
    print(f"\n{len(failed)} figure(s) FAIL" + (": " + "; ".join(failed) if failed else ""))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, help="24 MP files for the throughput figures (default 160)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoder threads")
    parser.add_argument("--quick", action="store_true", help="small smoke run (8 frames)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where generated archives are kept")
    parser.add_argument(
        "--content", choices=("sim", "textured"), default="textured", help="24 MP test photos (see archive())"
    )
    parser.add_argument("--batch-mb", type=int, help="override hpstore's batch memory budget (MiB)")
    parser.add_argument("--tmp", type=Path, help="scratch directory for stores (default: system temp)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.frames = args.frames or (8 if args.quick else 160)
    args.rss_frames = 4 if args.quick else 32
    args.loop_frames = 2 if args.quick else 4
    args.exact_frames = 12
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.paths, args.store, args.workers, args.batch_mb)
        return 0
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hpstore-bench-", dir=args.tmp) as tmp:
        res = measure(args, Path(tmp))
    print(load_note(load))
    print_budget(res)
    print_table(table(res, args.exact_frames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
