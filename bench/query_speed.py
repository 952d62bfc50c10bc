"""Answers without waiting (issue 15): query, start-up and ingest figures as ratios against decoding, measured
in the same run.

T16 is the time to decode 16 of the archive's 24 MP JPEGs on one thread (``simplejpeg``, page cache warm).
Each figure runs in a fresh process of the installed ``hpstore`` command, as a user's would:

1. ``hpstore --help``                                   target: at most 0.2 x T16
2. ``hpstore ingest`` of the archive, process start included, against decoding the same files with the same
   threads                                              target: at least 0.75x decode
3. the first ``query --top 20`` after the ingest         target: at most 2 x T16, peak RSS at most 2.5 GB
4. the same query repeated                             target: at most 0.5 x T16, peak RSS at most 600 MB

Run from the repository root (the archive is generated once into the ingest bench's cache)::

    python bench/query_speed.py                # 96 x 24 MP JPEGs, a few minutes on 2 cores
    python bench/query_speed.py --frames 24    # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import simplejpeg

sys.path.insert(0, str(Path(__file__).parent))
from ingest_speed import DEFAULT_CACHE, archive, warm_page_cache


def decode_seconds(files: list[Path], threads: int) -> float:
    """Wall time to decode ``files`` into one reused buffer per thread."""
    datas = [f.read_bytes() for f in files]

    def work(chunk: list[bytes]) -> None:
        buffer: np.ndarray | None = None
        for data in chunk:
            h, w, _, _ = simplejpeg.decode_jpeg_header(data)
            if buffer is None or buffer.shape != (h, w, 3):
                buffer = np.empty((h, w, 3), np.uint8)
            simplejpeg.decode_jpeg(data, buffer=buffer)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [datas[i::threads] for i in range(threads)]))
    return time.perf_counter() - started


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command, sampled every 20 ms."""
    started = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return took, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=96, help="24 MP JPEGs in the archive")
    parser.add_argument("--content", choices=["sim", "textured"], default="textured")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()

    files = archive(args.cache, args.content, args.frames)
    warm_page_cache(files)
    threads = os.cpu_count() or 1
    t16 = min(decode_seconds(files[:16], 1) for _ in range(2))
    decode_all = decode_seconds(files, threads)
    exe = shutil.which("hpstore") or str(Path(sys.executable).with_name("hpstore"))
    work = Path(tempfile.mkdtemp(prefix="hpstore-query-bench-"))
    env = {**os.environ, "HPSTORE_STORE": str(work / "store")}
    folder = files[0].parent
    try:
        helps = [run([exe, "--help"], env)[0] for _ in range(3)]
        ingest_s, ingest_mb = run([exe, "ingest", "-q", str(folder)], env)
        first_s, first_mb = run([exe, "query", "--top", "20", "--format", "json"], env)
        again = [run([exe, "query", "--top", "20", "--format", "json"], env) for _ in range(3)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    again_s, again_mb = min(s for s, _ in again), max(mb for _, mb in again)
    rows = [
        ("hpstore --help", min(helps) / t16, "x T16", "<= 0.2", min(helps) / t16 <= 0.2, ""),
        ("ingest vs decode", decode_all / ingest_s, "x decode", ">= 0.75", decode_all / ingest_s >= 0.75,
         f"{ingest_s:.1f} s, peak {ingest_mb:.0f} MB"),
        ("first query", first_s / t16, "x T16", "<= 2", first_s / t16 <= 2 and first_mb <= 2500,
         f"{first_s:.1f} s, peak {first_mb:.0f} MB (<= 2500)"),
        ("repeated query", again_s / t16, "x T16", "<= 0.5", again_s / t16 <= 0.5 and again_mb <= 600,
         f"{again_s:.2f} s, peak {again_mb:.0f} MB (<= 600)"),
    ]  # fmt: skip
    print(f"{len(files)} x 24 MP JPEG ({args.content}); T16 = {t16:.2f} s on one thread; decoding all on "
          f"{threads} threads {decode_all:.1f} s")  # fmt: skip
    for name, ratio, unit, target, ok, detail in rows:
        print(f"  {name:18s} {ratio:6.2f} {unit:9s} target {target:8s} {'ok' if ok else 'FAIL':4s}  {detail}")


if __name__ == "__main__":
    main()
