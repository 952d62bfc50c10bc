"""Crash safety: SIGKILL at many moments, Ctrl-C, two writers, readers during ingest, changed files.

Every run that is killed or interrupted here is a real ``hpstore ingest`` subprocess on a simulator archive.
Kills land at named checkpoints inside the commit protocol (``HPSTORE_CRASH_AT``, see
``hpstore.testing.faults``) and at random times. The runs that resume after them, and the checks of the
result, run in the test's own process: a subprocess is not the point there, and its start-up is most of
the cost.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpstore.commands.check import check
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.store.lock import StoreLock
from hpstore.store.storage import Storage
from hpstore.testing.simulator import CameraSpec, plant_defects, write_archive, write_corrupt_files

from .conftest import hpstore_command, make_settings

# Tiny batches and a commit after every fold: many commits, so kills land inside many of them.
FAST_COMMITS = {"HPSTORE_COMMIT_SECONDS": "0", "HPSTORE_BATCH_FRAMES": "4", "HPSTORE_WORKERS": "2"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 RAW+JPEG shots, a duplicate and bad files: 51 files, 2 groups, ~12 commits per run."""
    root = tmp_path_factory.mktemp("crash")
    camera = CameraSpec(make="Simcam", model="K9", serial="KILL0001", height=64, width=96)
    archive = write_archive(
        root / "photos",
        camera,
        plant_defects(camera, np.random.default_rng(3), hot=2),
        shots=24,
        formats=("dng", "jpg"),
        seed=3,
    )
    shutil.copy(archive.shots[0].paths["jpg"], root / "photos" / "copy_of_first.jpg")
    bad = write_corrupt_files(root / "bad")
    shutil.copy(bad["truncated.jpg"], root / "photos" / "truncated.jpg")
    return root / "photos"


def run_ingest(
    store: Path, folder: Path, env: dict[str, str] | None = None, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **FAST_COMMITS, **(env or {})}
    return subprocess.run(
        [*hpstore_command(), "--store", str(store), "ingest", *extra, str(folder)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def resume(store: Path, folder: Path) -> list[str]:
    """The rerun after a kill, in this process with the subprocesses' settings: the notices it gave."""
    notices: list[str] = []
    settings = make_settings(store, commit_seconds=0.0, max_batch_frames=4, workers=2)
    ingest([str(folder)], settings, on_event=lambda e: notices.append(e.text) if e.kind == "notice" else None)
    return notices


def snapshot(store: Path) -> tuple[dict[str, Any], dict[str, tuple[int, np.ndarray, np.ndarray]]]:
    settings = make_settings(store)
    with Storage(settings, create=False) as s:
        files = {Path(f.path).name: (f.status, f.hash, f.source) for f in s.catalog.files()}
        states = {}
        for g in s.catalog.groups():
            if g.n == 0:
                continue  # created for files that never got committed: no state yet
            state = s.state.read(g.id, g.generation, g.n)
            states[f"{g.source}/{g.width}x{g.height}/{g.exposure}"] = (state.n, state.mean, state.m2)
    return files, states


def assert_same(store: Path, reference: tuple[dict[str, Any], dict[str, Any]]) -> None:
    files, states = snapshot(store)
    ref_files, ref_states = reference
    assert files == ref_files  # every file exactly once, with the same fate
    assert states.keys() == ref_states.keys()
    for key, (n, mean, m2) in states.items():
        assert n == ref_states[key][0]
        np.testing.assert_allclose(mean, ref_states[key][1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(m2, ref_states[key][2], rtol=1e-12, atol=1e-9)
    report = check(make_settings(store))
    assert report.ok, report.to_dict()


@pytest.fixture(scope="module")
def reference(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    store = tmp_path_factory.mktemp("ref") / "store"
    out = run_ingest(store, folder)
    assert out.returncode == 0, out.stderr
    assert "ingested 48, duplicates 1, failed 1" in out.stdout
    return snapshot(store)


KILL_POINTS = [
    "decoded:1",
    "decoded:9",
    "decoded:30",
    "decoded:47",
    "folded:1",
    "folded:4",
    "folded:10",
    "state-array:1",
    "state-array:6",
    "state-array:15",
    "state-written:1",
    "state-written:7",
    "catalog-open:1",
    "catalog-open:5",
    "catalog-open:11",
    "catalog-committed:2",
    "catalog-committed:8",
    "old-dropped:1",
    "old-dropped:6",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_at_a_checkpoint_then_rerun_equals_a_clean_run(
    point: str, folder: Path, reference: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    killed = run_ingest(store, folder, {"HPSTORE_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL, f"{point} was never reached: {killed.stdout} {killed.stderr}"
    notices = resume(store, folder)
    if Path(store / "catalog.sqlite").exists() and not any("resuming an interrupted ingest" in n for n in notices):
        pytest.fail(f"the rerun did not say it resumes: {notices}")
    assert_same(store, reference)


@pytest.mark.parametrize("seed", range(3))
def test_sigkill_at_random_moments(seed: int, folder: Path, reference: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    rng = random.Random(seed)
    for _ in range(2):  # two kills in a row, then a full run
        proc = subprocess.Popen(
            [*hpstore_command(), "--store", str(store), "ingest", "-q", str(folder)],
            env={**os.environ, **FAST_COMMITS},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.8, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    resume(store, folder)
    assert_same(store, reference)


def test_ctrl_c_stops_commits_and_says_how_to_resume(folder: Path, reference: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [*hpstore_command(), "--store", str(store), "ingest", str(folder)],
        env={**os.environ, **FAST_COMMITS, "HPSTORE_BATCH_FRAMES": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (store / "catalog.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    if proc.returncode == 0:
        pytest.skip("the ingest finished before Ctrl-C reached it")
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err and "Traceback" not in err
    assert run_ingest(store, folder).returncode == 0
    assert_same(store, reference)


def test_a_second_writer_waits_or_refuses(folder: Path, reference: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with StoreLock(store, mark_run=False):
        refused = run_ingest(store, folder, None, "--no-wait")
        assert refused.returncode == 1 and "another ingest" in refused.stderr
        waiting = subprocess.Popen(
            [*hpstore_command(), "--store", str(store), "ingest", str(folder)],
            env={**os.environ, **FAST_COMMITS},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock we hold
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and "waiting for another ingest" in err
    assert_same(store, reference)


def test_two_concurrent_ingests_and_queries_meanwhile(folder: Path, reference: Any, tmp_path: Path) -> None:
    # Two writers over overlapping inputs, and a reader polling while they run.
    store = tmp_path / "store"
    env = {**os.environ, **FAST_COMMITS, "HPSTORE_BATCH_FRAMES": "1"}
    writers = [
        subprocess.Popen(
            [*hpstore_command(), "--store", str(store), "ingest", "-q", str(folder)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    queries = 0
    while any(w.poll() is None for w in writers):
        if (store / "state.zarr").exists():
            q = subprocess.run(
                [
                    *hpstore_command(),
                    "--store",
                    str(store),
                    "query",
                    "--format",
                    "json",
                    "--min-score",
                    "0",
                    "--top",
                    "3",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if q.returncode == 0:
                json.loads(q.stdout)
                queries += 1
            else:
                assert "no hpstore store" in q.stderr or "catalog" in q.stderr, q.stderr
        time.sleep(0.1)
    for w in writers:
        assert w.wait() == 0, w.stderr.read() if w.stderr else ""
    assert queries >= 1
    assert_same(store, reference)


def test_changed_file_is_reported_not_counted_twice(folder: Path, tmp_path: Path, settings: Settings) -> None:
    target = tmp_path / "photo.jpg"
    shutil.copy(next(folder.glob("*.jpg")), target)
    ingest([str(target)], settings)
    other = sorted(folder.glob("*.jpg"))[5].read_bytes()
    target.write_bytes(other)
    os.utime(target, (time.time() + 10, time.time() + 10))
    events: list[Any] = []
    report = ingest([str(target)], settings, on_event=events.append)
    assert report.changed == 1 and report.ingested == 0
    assert any(e.status == "changed" for e in events)
    with Storage(settings, create=False) as store:
        (group,) = store.catalog.groups()
    assert group.n == 1


def test_check_finds_and_repairs_leftovers(folder: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    killed = run_ingest(store, folder, {"HPSTORE_CRASH_AT": "catalog-open:3"})
    assert killed.returncode == -signal.SIGKILL
    check = [*hpstore_command(), "--store", str(store), "check"]
    found = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert found.returncode == 1 and "leftovers of interrupted commits" in found.stdout
    fixed = subprocess.run([*check, "--repair"], capture_output=True, text=True, timeout=60)
    assert fixed.returncode == 0 and "repaired:" in fixed.stdout
    assert subprocess.run(check, capture_output=True, text=True, timeout=60).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 3 MiB tmpfs: a real "No space left on device" (needs root, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_fails_clearly_keeps_the_last_state_and_resumes(
    folder: Path, tmp_path: Path, small_disk: Path
) -> None:
    store = small_disk / "store"
    first = run_ingest(store, folder)
    assert first.returncode == 0, first.stderr
    before = snapshot(store)
    big = CameraSpec(make="Simcam", model="Big", serial="BIG1", height=800, width=1200)
    write_archive(tmp_path / "big", big, [], shots=4, formats=("jpg",), seed=1)
    full = run_ingest(store, tmp_path / "big")
    assert full.returncode == 1, full.stderr
    # The state write or the catalog commit meets the full disk first, depending on the file system.
    assert "No space left on device" in full.stderr or "disk is full" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    assert len(full.stderr.strip().splitlines()) == 1
    assert_same(store, before)  # the last committed state is intact and readable, no leftovers
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = run_ingest(store, tmp_path / "big")
    assert resumed.returncode == 0 and "ingested 4" in resumed.stdout, resumed.stderr
