"""Ingest on a Dask cluster into a store on S3 with a PostgreSQL catalog (issue 17), against real servers: an
S3-compatible server, a PostgreSQL cluster and a Dask scheduler with two workers (``.ci/run`` starts them;
otherwise the session starts moto_server and a local Dask cluster, and the PostgreSQL tests skip).

Every test compares with a local ingest (a folder and SQLite) of the same files: the rankings, the catalog's
files and cameras, and a pixel's history must be equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpstore
from hpstore import stats
from hpstore.ingest import cluster, tasks
from hpstore.io import probe
from hpstore.store.serverlock import ServerLock
from hpstore.store.state import ObjectStateStore
from hpstore.testing.simulator import CameraSpec, Defect, write_archive, write_corrupt_files

from .conftest import hpstore_command, new_bucket

A = CameraSpec(make="Simcam", model="D20", serial="DASK0001", height=96, width=128)
B = CameraSpec(make="Simcam", model="D30", serial="DASK0002", height=80, width=112)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two bodies, RAW and JPEG, copies of content within the run and of an earlier run, bad files; and a
    later card."""
    root = tmp_path_factory.mktemp("cluster")
    first = write_archive(
        root / "card1",
        A,
        [Defect(20, 30, "stuck"), Defect(60, 90, "hot", 400.0), Defect(70, 20, "stuck", onset=10)],
        shots=14,
        formats=("dng", "jpg"),
        seed=11,
    )
    write_archive(root / "card1" / "b", B, [Defect(10, 50, "hot", 300.0)], shots=9, formats=("jpg",), seed=12)
    shutil.copy(first.shots[2].paths["jpg"], root / "card1" / "zz_copy_of_shot_2.jpg")  # a later chunk
    bad = write_corrupt_files(root / "bad")
    shutil.copy(bad["truncated.jpg"], root / "card1" / "truncated.jpg")
    (root / "card1" / "notes.txt").write_text("not a photo")
    second = write_archive(
        root / "card2",
        A,
        [Defect(20, 30, "stuck"), Defect(60, 90, "hot", 400.0)],
        shots=6,
        formats=("dng",),
        seed=13,
    )
    del second
    shutil.copy(first.shots[5].paths["dng"], root / "card2" / "again_shot_5.dng")  # counted by the first run
    return {"card1": root / "card1", "card2": root / "card2"}


def answers(store: hpstore.Store) -> tuple[Any, ...]:
    return (
        [d.to_dict() for d in store.query(top=100, min_confidence=0.0)],
        sorted((f.path, f.status, f.hash, f.reason) for f in store.files()),
        [(c.camera, c.photos, c.sources) for c in store.cameras()],
        [r.to_dict() for r in store.history("DASK0001", (20, 30), period="month")],
    )


def assert_same_ranking(found: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """The same defects in the same order with the same classes, and scores equal to float precision."""
    key = ("camera", "source", "row", "col", "kind")
    assert [tuple(d[k] for k in key) for d in found] == [tuple(d[k] for k in key) for d in expected]
    assert [d["score"] for d in found] == pytest.approx([d["score"] for d in expected], rel=1e-6)
    assert len(found) >= 3


def remote(bucket: str, catalog: str) -> list[str]:
    return ["--store", f"s3://{bucket}/store", "--catalog", catalog]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*hpstore_command(), *args],
        env={**os.environ, "HPSTORE_DASK_CHUNK": "3", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def reference(archive: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """The local ingest's answers after each card."""
    with hpstore.open(tmp_path_factory.mktemp("local") / "store") as local:
        found = []
        for card in ("card1", "card2"):
            local.ingest([archive[card]])
            found.append(answers(local))
    return found


def test_a_cluster_ingest_into_s3_and_postgresql_equals_a_local_ingest(
    archive: dict[str, Path],
    reference: list[tuple[Any, ...]],
    s3_server: str,
    dask_scheduler: str,
    pg_catalog: str,
) -> None:
    bucket = new_bucket(s3_server)
    for at, card in enumerate(("card1", "card2")):
        done = cli(
            *remote(bucket, pg_catalog), "ingest", "--dask", dask_scheduler, "--format", "json", str(archive[card])
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["store"] == f"s3://{bucket}/store"
        assert report["duplicates"] == 1 and (report["failed"], report["skipped"]) == (
            (1, 1) if at == 0 else (0, 0)
        )
        with hpstore.open(f"s3://{bucket}/store", catalog=pg_catalog) as store:
            assert answers(store) == reference[at]
    assert any(row["kind"] == "stuck" for row in reference[1][0])
    # Queries from "another machine": a fresh process that only knows the URLs.
    done = cli(*remote(bucket, pg_catalog), "query", "--top", "5", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == reference[1][0][:5]


def test_an_ingest_without_dask_into_s3_equals_a_local_one(
    archive: dict[str, Path], reference: list[tuple[Any, ...]], s3_server: str, pg_catalog: str
) -> None:
    with hpstore.open(f"s3://{new_bucket(s3_server)}/store", catalog=pg_catalog) as store:
        store.ingest([archive["card1"]])
        assert answers(store) == reference[0]


def test_a_missing_bucket_is_one_clear_line(archive: dict[str, Path], s3_server: str, pg_catalog: str) -> None:
    done = cli("--store", "s3://no-such-bucket-here/s", "--catalog", pg_catalog, "ingest", str(archive["card2"]))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "hpstore: error: cannot write ingest.run in the state: NoSuchBucket: The specified bucket does not exist"
    ]


def test_an_object_storage_store_needs_a_server_catalog(s3_server: str, tmp_path: Path) -> None:
    done = cli("--store", f"s3://{new_bucket(s3_server)}/s", "query")
    assert done.returncode == 2
    assert "needs a server catalog" in done.stderr and "postgresql" in done.stderr
    done = cli("--store", "s3://b/s", "--catalog", f"sqlite:///{tmp_path}/c.sqlite", "query")
    assert done.returncode == 2 and "needs a server catalog" in done.stderr


def test_a_killed_client_commits_nothing_half_and_the_rerun_equals_a_local_ingest(
    archive: dict[str, Path],
    reference: list[tuple[Any, ...]],
    s3_server: str,
    dask_scheduler: str,
    pg_catalog: str,
) -> None:
    bucket = new_bucket(s3_server)
    args = [*remote(bucket, pg_catalog), "ingest", "--dask", dask_scheduler, str(archive["card1"])]
    # Killed after the second group's generation is written to S3, before the catalog points at it.
    killed = cli(*args, env={"HPSTORE_CRASH_AT": "state-written:2"})
    assert killed.returncode == -9
    with hpstore.open(f"s3://{bucket}/store", catalog=pg_catalog) as store:
        done = sum(c.photos for c in store.cameras())
        assert 0 < done < len(reference[0][1])
        found = store.check()  # the uncommitted generation on S3 is seen as a leftover
        assert not found.ok and any("leftover" in p or "not committed" in p for p in found.problems), found
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "resuming an interrupted ingest" in again.stderr
    with hpstore.open(f"s3://{bucket}/store", catalog=pg_catalog) as store:
        assert answers(store) == reference[0]
        state = ObjectStateStore.from_url(f"s3://{bucket}/store")
        committed = {(g.id, g.generation) for g in store_groups(pg_catalog)}
        stored = {(gid, gen) for gid in state.group_ids() for gen in state.generations(gid)}
        assert stored == committed  # the killed run's uncommitted generation was collected
        assert store.check().ok


def store_groups(catalog: str) -> list[Any]:
    from hpstore.store.catalog import Catalog

    with_catalog = Catalog(catalog, readonly=True)
    try:
        return [g for g in with_catalog.groups() if g.n]
    finally:
        with_catalog.close()


def test_two_writers_on_two_machines_take_turns(
    archive: dict[str, Path],
    reference: list[tuple[Any, ...]],
    s3_server: str,
    dask_scheduler: str,
    pg_catalog: str,
) -> None:
    bucket = new_bucket(s3_server)
    base = [*remote(bucket, pg_catalog), "ingest", "--dask", dask_scheduler]
    with ServerLock(pg_catalog):  # a writer elsewhere holds the store
        refused = cli(*base, "--no-wait", str(archive["card1"]))
    assert refused.returncode == 1 and "another ingest (hpstore writer pid" in refused.stderr
    # Two writers at once: one waits for the other, and both cards end up counted once.
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    threads = [
        threading.Thread(target=lambda c=card: results.__setitem__(c, cli(*base, str(archive[c]))))
        for card in ("card1", "card2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
    assert any("waiting for another ingest" in r.stderr for r in results.values())
    with hpstore.open(f"s3://{bucket}/store", catalog=pg_catalog) as store:
        query, files, cameras, _ = answers(store)
    # Which card came first decides which copy of a shot is the duplicate, and the order of the merges (the
    # float state may differ in the last bits); the content counted is the same.
    assert cameras == reference[1][2]
    assert sorted(f[0] for f in files) == sorted(f[0] for f in reference[1][1])
    assert_same_ranking(query, reference[1][0])


def test_a_worker_that_dies_loses_only_its_chunk(
    archive: dict[str, Path], reference: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    import dask
    from distributed import Client, LocalCluster

    # The first worker process to decode its third file dies (SIGKILL); its nanny starts a new one, and the
    # scheduler gives what the dead worker held (its chunk, and parts it had folded) to the workers left.
    flag = tmp_path / "died"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 50}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            env={"HPSTORE_CRASH_AT": "worker-decoded:3", "HPSTORE_CRASH_ONCE": str(flag)},
        ) as local,
        Client(local) as client,
        hpstore.open(tmp_path / "store") as store,
    ):
        report = cluster.ingest_on(client, [str(archive["card1"])], store.settings, chunk=2)
        assert report.ingested == len([f for f in reference[0][1] if f[1] == "ingested"])
        assert answers(store) == reference[0]
    assert flag.exists()  # a worker did die


def test_an_archive_goes_through_in_slices_with_the_same_result(
    archive: dict[str, Path],
    reference: list[tuple[Any, ...]],
    dask_scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distributed import Client

    monkeypatch.setattr(cluster, "SLICE", 9)  # 45 files: 5 slices, each committing its groups
    with Client(dask_scheduler) as client, hpstore.open(tmp_path / "store") as store:
        report = cluster.ingest_on(client, [str(archive["card1"])], store.settings, chunk=2)
        query, files, cameras, history = answers(store)
    assert report.duplicates == 1 and len(report.groups) == len(set(report.groups))
    assert (files, cameras) == reference[0][1:3]
    assert_same_ranking(query, reference[0][0])  # more commits per group: floats may differ in the last bits
    assert [h["photos"] for h in history] == [h["photos"] for h in reference[0][3]]


def test_a_duplicate_is_taken_out_exactly(archive: dict[str, Path]) -> None:
    # The worker-side functions, without a cluster: fold [a, b] equals fold [a, b, c, a2] minus [c, a2].
    files = sorted((archive["card1"]).glob("D20_*.jpg"))[:3]
    info = probe(files[0])
    spec = tasks.Spec(info.shape, np.dtype(info.dtype).str, 1, 4)
    work = [(i, str(p), probe(p)) for i, p in enumerate(files)]
    whole = tasks.fold(work, spec)
    part = tasks.fold(work[:2], spec)
    assert whole.sums.s1.dtype == np.uint16 and whole.sums.pairs is not None
    assert whole.sums.pairs.x.dtype == np.int8  # narrow types wrap around on the way down and back
    digests = [s.digest or "" for s in whole.files[2:]]
    tasks.take_out(whole, work[2:], spec, digests)
    assert whole.sums.n == part.sums.n == 2
    for mine, theirs in [(whole.sums.s1, part.sums.s1), (whole.sums.s2, part.sums.s2)]:
        assert np.array_equal(mine, theirs)
    assert np.array_equal(whole.sums.pairs.x, part.sums.pairs.x)
    assert [s.folded for s in whole.files] == [True, True, False]
    merged = tasks.merge(tasks.fold(work[:1], spec), tasks.fold(work[1:2], spec))
    assert np.array_equal(merged.sums.s2, part.sums.s2) and merged.sums.n == 2
    with pytest.raises(hpstore.HpstoreError, match="changed during the ingest"):
        tasks.take_out(part, work[:1], spec, ["0" * 64])
    assert stats.sums_for((1, 1, 1), np.uint8).limit == stats.LIMIT8


def test_a_bad_scheduler_address_is_a_usage_error(archive: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    done = cli("--store", str(tmp_path / "s"), "ingest", "--dask", "scheduler-without-port", str(archive["card2"]))
    assert done.returncode == 2
    assert "is not a Dask scheduler's address (tcp://host:8786)" in done.stderr
    assert not (tmp_path / "s").exists()  # nothing was created before the cluster was reached
