"""Shared fixtures: stores in tmp_path, simulator archives written once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpstore.settings import Settings, load_settings
from hpstore.simulator import Archive, CameraSpec, plant_defects, write_archive


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
