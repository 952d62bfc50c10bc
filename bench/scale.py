"""Scale (issue 17): ingest throughput on a Dask cluster of 1 and 2 workers here, and a model of a cluster for an
archive of 10 million 24 MP photos from 1,000 bodies.

Measured, in one run on one archive of simulator JPEGs (one body, one group):

- the baseline: a local ingest (``hpstore ingest``, its decoder threads) into a local store;
- ``ingest --dask`` with a local Dask cluster of 1 and of 2 single-threaded worker processes, into a store on
  S3 (a moto_server started here) with a PostgreSQL catalog when ``HPSTORE_TEST_POSTGRES`` names a server
  (``.ci/run`` starts one), else into a local store;
- from the same runs: bytes read per photo, CPU seconds per megapixel, bytes of one chunk's partial sums,
  the object-store requests of one commit.

Every Dask result is checked against the baseline's ranking. Throughput is printed as a ratio to the
baseline. On two cores expect little: two processes share the cores and the memory bandwidth with the
client, the scheduler and moto.

The model then scales the measured per-photo costs to 24 MP and prints, for clusters of 16 to 1,024 workers,
what each resource would need: CPU, object-store bandwidth and requests, merge traffic between workers,
catalog rows per second. The first resource to run out is the bottleneck.

Run from the repository root::

    python bench/scale.py            # 48 photos of 3 MP: about two minutes
    python bench/scale.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import hpstore
from hpstore.ingest import cluster, tasks
from hpstore.io import probe
from hpstore.store.state import CHUNK, FIELDS, PAIR_FIELDS
from hpstore.testing import services
from hpstore.testing.simulator import CameraSpec, Defect, write_archive

# The archive of the model.
PHOTOS = 10_000_000
BODIES = 1_000
PIXELS = 24e6
JPEG_BYTES_PER_PIXEL = 0.45  # a 24 MP camera JPEG at quality ~92 is 9-12 MB (checked sets: 0.3-0.6 B/px)
GROUPS_PER_BODY = 10 * 2  # ten years x short/long exposures, for RGB (RAW doubles it)
# What one node and the services can give (public figures for cloud machines and S3).
NIC_BYTES = 1.25e9  # 10 Gbit/s per worker node
NODE_CORES = 16
S3_GET_PER_PREFIX = 5_500  # requests per second per prefix; an archive spreads over many prefixes
CATALOG_ROWS = 20_000  # rows per second one PostgreSQL server takes in batched transactions


@dataclass
class Run:
    name: str
    seconds: float
    photos: int
    ranking: list[tuple[object, ...]]


def ranking(store: hpstore.Store) -> list[tuple[object, ...]]:
    return [(d.camera, d.source, d.row, d.col, d.kind) for d in store.query(top=50)]


def timed(name: str, store: hpstore.Store, ingest: object) -> Run:
    started = time.perf_counter()
    report = ingest()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    return Run(name, seconds, report.ingested, ranking(store))


def fresh_database(server: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def dask_runs(photos: Path, work: Path, chunk: int, baseline: Run) -> list[Run]:
    import boto3
    from distributed import Client, LocalCluster

    postgres = os.environ.get("HPSTORE_TEST_POSTGRES")
    runs: list[Run] = []
    with ExitStack() as stack:
        endpoint = None
        if postgres and importlib.util.find_spec("moto") is not None:
            endpoint = stack.enter_context(services.s3_server())
        for workers in (1, 2):
            if endpoint is not None and postgres:
                bucket = f"bench-{uuid.uuid4().hex[:10]}"
                boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
                where, catalog, label = f"s3://{bucket}/store", fresh_database(postgres), "S3 + PostgreSQL"
            else:
                where, catalog, label = str(work / f"dask{workers}"), None, "local store"
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
                ) as local,
                Client(local) as client,
                hpstore.open(where, catalog=catalog) as store,
            ):
                client.run(tasks.warm)  # as ``cluster.connect`` does: kernels loaded before the clock starts
                name = f"dask, {workers} worker{'s' * (workers > 1)}, {label}"
                runs.append(
                    timed(
                        name,
                        store,
                        lambda c=client, s=store.settings: cluster.ingest_on(c, [str(photos)], s, chunk=chunk),
                    )
                )
            if runs[-1].ranking != baseline.ranking:
                raise SystemExit(f"{name}: the ranking differs from the local ingest's")
    return runs


def model(cpu_per_mp: float, partial_bytes_per_sample: float) -> None:
    """Print what a cluster of 16 to 1,024 workers would need for the model archive, and its bottleneck."""
    photo_bytes = PIXELS * JPEG_BYTES_PER_PIXEL
    cpu = cpu_per_mp * PIXELS / 1e6  # core-seconds per photo
    samples = PIXELS * 3
    partial = samples * partial_bytes_per_sample  # one group's integer sums, as a part of a chunk holds them
    groups = BODIES * GROUPS_PER_BODY
    per_group = PHOTOS / groups
    state = samples * 20  # mean and M2 float64, two int16 sign sums: a generation, read and written per commit
    tiles = -(-4000 // CHUNK) * -(-6000 // CHUNK)
    requests = 2 * tiles * (len(FIELDS) + len(PAIR_FIELDS))  # per commit: read old + write new chunks
    print(f"\nmodel: {PHOTOS:,} photos of {PIXELS / 1e6:.0f} MP over {BODIES:,} bodies ({groups:,} groups)")
    print(
        f"  per photo: {photo_bytes / 1e6:.1f} MB read, {cpu:.2f} core-s (measured {cpu_per_mp * 1e3:.1f} ms/MP)"
    )
    print(f"  per group ({per_group:.0f} photos on average): sums {partial / 1e9:.2f} GB, a commit reads and")
    print(f"  writes {2 * state / 1e9:.1f} GB of state (raw) in {requests} requests; 1 catalog row per photo")
    chunk = 64
    chunks = -(-per_group // chunk)  # a group's chunks

    def spread(workers: int) -> float:
        """Workers a group's chunks go to with ``cluster._Schedule``: each worker takes a run of consecutive
        chunks of a slice (at least 8 chunks per worker), so a group straddles two runs now and then."""
        share = max(cluster.SLICE, 8 * chunk * workers) / chunk / workers  # chunks per worker per slice
        return min(float(chunks), 1 + (chunks - 1) / share)

    designs = {
        # every part moves once (a plain tree of chunks merged wherever they finish), and once to the writers
        "a plain tree: parts merged wherever they finish": lambda w: (min(w, chunks) + 1) * partial / per_group,
        # the parts of the workers a group went to move once, and its sums once to the band writers
        "this schedule: consecutive chunks per worker": lambda w: (spread(w) - 1 + 1) * partial / per_group,
    }
    for name, merge in designs.items():
        print(f"\n  {name} ({chunk} photos per chunk)")
        head = f"  {'workers':>7} {'photos/s':>9} {'days':>6} {'S3 GB/s':>8} {'req/s':>7} {'merge MB/photo':>14}"
        print(head + "  bottleneck")
        for workers in (16, 64, 256, 1024):
            traffic = photo_bytes + merge(workers) + 2 * state / per_group  # into a node, per photo
            limits = {
                "CPU (decode)": workers / cpu,
                "node network": workers / NODE_CORES * NIC_BYTES / traffic,
                "S3 requests on one prefix": S3_GET_PER_PREFIX / (1 + requests / per_group),
                "catalog rows": CATALOG_ROWS,
            }
            first = min(limits, key=lambda k: limits[k])
            rate = limits[first]
            s3 = rate * (photo_bytes + 2 * state / per_group)
            print(
                f"  {workers:>7} {rate:>9.0f} {PHOTOS / rate / 86_400:>6.1f} {s3 / 1e9:>8.2f}"
                f" {rate * (1 + requests / per_group):>7.0f} {merge(workers) / 1e6:>14.1f}  {first}"
            )


def worker_cost(files: list[Path], info: object, chunk: int) -> float:
    """Seconds per photo of what a worker does with a chunk (``tasks.fold``), in this process: the
    per-photo cost the model scales, without the cluster's fixed costs."""
    spec = tasks.Spec(info.shape, np.dtype(info.dtype).str, 1, len(files))  # type: ignore[attr-defined]
    work = [(i, str(f), probe(f)) for i, f in enumerate(files)]
    tasks.fold(work[:1], spec)  # compiled kernels loaded
    started = time.process_time()
    for at in range(0, len(work), chunk):
        tasks.fold(work[at : at + chunk], spec)
    return (time.process_time() - started) / len(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 12 small photos")
    parser.add_argument("--chunk", type=int, default=8, help="files per Dask task (default 8)")
    args = parser.parse_args()
    shots, height, width = (12, 300, 400) if args.quick else (48, 1500, 2000)
    with tempfile.TemporaryDirectory(prefix="hpstore-scale-") as tmp:
        work = Path(tmp)
        camera = CameraSpec(make="Simcam", model="S3", serial="SCALE001", height=height, width=width)
        defects = [Defect(100, 200, "stuck"), Defect(250, 120, "hot", 400.0)]
        write_archive(work / "photos", camera, defects, shots=shots, formats=("jpg",), seed=17)
        files = sorted((work / "photos").glob("*.jpg"))
        mean_bytes = float(np.mean([f.stat().st_size for f in files]))
        with hpstore.open(work / "local") as store:
            baseline = timed("local ingest (threads)", store, lambda: store.ingest([work / "photos"]))
        with hpstore.open(work / "local1", workers=1) as store:
            single = timed("local ingest, 1 thread", store, lambda: store.ingest([work / "photos"]))
        runs = [baseline, single, *dask_runs(work / "photos", work, args.chunk, baseline)]
        info = probe(files[0])
        fold_seconds = worker_cost(files, info, args.chunk)
        spec = tasks.Spec(info.shape, np.dtype(info.dtype).str, 1, PHOTOS // (BODIES * GROUPS_PER_BODY))
        partial = spec.empty()
        widths = partial.s1.itemsize + partial.s2.itemsize + 2 * (partial.pairs.x.itemsize if partial.pairs else 0)
    mp = height * width / 1e6
    print(f"\n{shots} JPEGs of {mp:.1f} MP ({mean_bytes / 1e6:.2f} MB each), {os.cpu_count()} CPUs here")
    print(f"  {'run':<44} {'seconds':>8} {'photos/s':>9} {'vs baseline':>12}")
    base_rate = baseline.photos / baseline.seconds
    for run in runs:
        rate = run.photos / run.seconds
        print(f"  {run.name:<44} {run.seconds:>8.2f} {rate:>9.1f} {rate / base_rate:>11.2f}x")
    print(f"  a worker's own work (read, hash, decode, scan, fold): {fold_seconds * 1e3:.1f} ms per photo")
    model(fold_seconds / mp, widths)


if __name__ == "__main__":
    main()
