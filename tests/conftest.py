"""Shared fixtures: stores in tmp_path, simulator archives written once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpstore.settings import Settings, load_settings
from hpstore.stats import State
from hpstore.store.catalog import Group
from hpstore.store.storage import Storage
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
