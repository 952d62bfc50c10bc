"""Shared fixtures: stores in tmp_path, simulator archives written once per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hpstore.settings import Settings, load_settings
from hpstore.stats import State
from hpstore.store.catalog import Group
from hpstore.store.storage import Storage
from hpstore.testing import services
from hpstore.testing.simulator import Archive, CameraSpec, plant_defects, write_archive
from hpstore.timeaxis.families import family_state
from hpstore.timeaxis.window import families


def make_settings(store: Path, **overrides: object) -> Settings:
    return load_settings(env={}, store=store, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "store")


CAMERA = CameraSpec(make="Simcam", model="T100", serial="TEST0001", height=200, width=300)


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """30 RAW+JPEG shots of one camera with 4 hot, 2 stuck and 2 dead photosites."""
    folder = tmp_path_factory.mktemp("archive")
    defects = plant_defects(CAMERA, np.random.default_rng(7), hot=4, stuck=2, dead=2)
    return write_archive(folder, CAMERA, defects, shots=30, formats=("dng", "jpg"), seed=7, portrait_every=4)


def hpstore_command() -> list[str]:
    """The installed console script (the real entry point users run)."""
    exe = Path(sys.executable).with_name("hpstore")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hpstore.cli.main"]


def hpstore_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hpstore`` so that file permissions apply even when the tests run as root (CI does):
    root keeps its uid but loses the capabilities that override permission bits."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise RuntimeError("running as root needs util-linux setpriv to test permissions")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run([*prefix, *hpstore_command(), *args], capture_output=True, text=True, timeout=300)


def _state(store: Storage, family: list[Group]) -> State:
    found = family_state(store, family, keep=True)
    assert found is not None
    return found.state


def merged_states(settings: Settings) -> dict[str, State]:
    """Each camera/source/geometry's state, its exposure classes merged, keyed "camera/source/WxH/bits"
    (groups without frames, made for files that then failed, are left out)."""
    with Storage(settings, create=False) as store:
        return {
            f"{fam[0].camera_id}/{fam[0].source}/{fam[0].width}x{fam[0].height}/{fam[0].bits}": _state(store, fam)
            for fam in families([g for g in store.catalog.groups() if g.n])
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 for this test session, with the standard AWS_* variables
    pointing at it; its endpoint URL. ``.ci/run`` starts one (moto_server) and names it in
    ``HPSTORE_TEST_S3``; otherwise the session starts its own. Skips where moto is not installed."""
    if importlib.util.find_spec("obstore") is None:
        pytest.skip("no S3 client: pip install obstore (the test extra has it)")
    if os.environ.get("HPSTORE_TEST_S3"):
        yield os.environ["HPSTORE_TEST_S3"]  # .ci/run set the AWS_* variables with it
        return
    if importlib.util.find_spec("moto") is None:
        pytest.skip("no S3 test server: pip install 'moto[s3,server]' (the test extra has it)")
    try:
        with services.s3_server() as endpoint:
            yield endpoint
    except RuntimeError as err:
        pytest.fail(str(err))


@pytest.fixture
def pg_catalog() -> Iterator[str]:
    """A fresh database on the PostgreSQL server ``HPSTORE_TEST_POSTGRES`` names (``.ci/run`` starts a
    throw-away cluster), dropped afterwards; its SQLAlchemy URL. Skips without a server."""
    server = os.environ.get("HPSTORE_TEST_POSTGRES")
    if not server:
        pytest.skip("no PostgreSQL server: set HPSTORE_TEST_POSTGRES (.ci/run starts one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hp_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def dask_scheduler(s3_server: str) -> Iterator[str]:
    """The address of a Dask scheduler with two single-threaded workers for this test session, whose
    workers see the S3 test server. ``.ci/run`` starts one (``dask scheduler`` and ``dask worker``) and names
    it in ``HPSTORE_TEST_DASK``; otherwise the session starts a local cluster of two worker processes."""
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("no Dask: pip install 'dask[distributed]' (the test and cluster extras have it)")
    if os.environ.get("HPSTORE_TEST_DASK"):
        yield os.environ["HPSTORE_TEST_DASK"]
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def new_bucket(endpoint: str) -> str:
    """A fresh, empty bucket on the test S3 server; its name."""
    import boto3

    name = f"hpstore-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name
