"""Zarr state storage: generations written chunk by chunk from a source, and older codecs still read.

The tests that take ``backend`` run against every implementation of the ``StateStore`` interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from hpstore import stats
from hpstore.errors import StateError
from hpstore.store import state as statestore
from hpstore.store.state import LocalStateStore, MemoryStateStore, ObjectStateStore, StateStore

from .conftest import new_bucket


@pytest.fixture(params=["local", "memory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "s3":  # a real S3 protocol server (moto), through obstore
        endpoint = request.getfixturevalue("s3_server")
        return ObjectStateStore.from_url(f"s3://{new_bucket(endpoint)}/store/state.zarr")
    return LocalStateStore(tmp_path / "state.zarr") if request.param == "local" else MemoryStateStore()


def _state(seed: int, shape: tuple[int, int, int], frames: int = 7) -> tuple[stats.State, np.ndarray]:
    data = np.random.default_rng(seed).integers(0, 256, (frames, *shape), dtype=np.uint8)
    return stats.update(stats.empty(shape), data), data


def _shuffle(array: Path) -> str:
    (codec,) = zarr.open_array(str(array), mode="r").compressors
    assert isinstance(codec, BloscCodec)
    return str(codec.shuffle.value)


def test_a_generation_written_from_chunk_regions_reads_back_whole(
    backend: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statestore, "CHUNK", 16)  # 40 x 50: chunks of 16 with partial ones at both edges
    state, _ = _state(1, (40, 50, 3))
    seen: list[tuple[slice, slice]] = []

    def source(region: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        seen.append(region)
        return state.mean[region], state.m2[region]

    store = backend
    store.write_from(3, 1, state.shape, state.n, source)
    assert len(seen) == 3 * 4  # each chunk's region once
    back = store.read(3, 1, state.n)
    np.testing.assert_array_equal(back.mean, state.mean)
    np.testing.assert_array_equal(back.m2, state.m2)
    window = store.reader(3, 1, state.n)((slice(10, 20), slice(5, 45)))
    np.testing.assert_array_equal(window.mean, state.mean[10:20, 5:45])


def test_a_generation_of_the_older_byte_shuffle_codec_reads_and_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStateStore(tmp_path / "state.zarr")
    old, old_frames = _state(2, (20, 30, 3))
    with monkeypatch.context() as patch:
        patch.setattr(statestore, "_COMPRESSOR", BloscCodec(cname="lz4", clevel=1, shuffle="shuffle"))
        store.write(1, 1, old)
    new_frames = np.random.default_rng(3).integers(0, 256, (5, 20, 30, 3), dtype=np.uint8)
    sums = stats.add_slots(stats.sums_for(old.shape, np.uint8), new_frames, np.arange(5))
    assert _shuffle(tmp_path / "state.zarr/g1/v1/mean") == "shuffle"
    read = store.reader(1, 1, old.n)

    def merged_chunk(region: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        part = stats.with_sums(read(region), sums, region)
        return part.mean, part.m2

    store.write_from(1, 2, old.shape, old.n + 5, merged_chunk)
    assert _shuffle(tmp_path / "state.zarr/g1/v2/mean") == "bitshuffle"
    merged = store.read(1, 2, old.n + 5)
    frames = np.concatenate([old_frames, new_frames]).astype(np.float64)
    np.testing.assert_allclose(merged.mean, frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.finalize(merged)[1], frames.var(axis=0), rtol=1e-9, atol=1e-9)


def test_a_source_that_cannot_read_its_base_leaves_no_half_written_generation(
    backend: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statestore, "CHUNK", 8)  # 20 x 30: 12 chunks, some written before the failure
    store = backend
    state, _ = _state(4, (20, 30, 3))
    store.write(1, 1, state)
    calls: list[tuple[slice, slice]] = []

    def source(region: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        calls.append(region)
        if len(calls) == 9:  # in the second half: the first half's chunks are on disk by then
            raise StateError("state g1/v1 is unreadable")
        return state.mean[region], state.m2[region]

    with pytest.raises(StateError):
        store.write_from(1, 2, state.shape, state.n, source)
    assert store.generations(1) == [1]
    np.testing.assert_array_equal(store.read(1, 1, state.n).mean, state.mean)


def test_generations_are_listed_read_with_their_pairs_and_dropped(backend: StateStore) -> None:
    assert backend.group_ids() == set() and backend.generations(1) == []
    small, _ = _state(5, (12, 10, 1), frames=3)
    signs = np.random.default_rng(5).integers(-3, 4, (2, 12, 10, 1), dtype=np.int32)
    with_pairs = stats.State(small.n, small.mean, small.m2, stats.Pairs(2, signs[0], signs[1]))
    backend.write(1, 1, with_pairs)
    backend.write(1, 2, small)
    backend.write(4, 1, small)
    assert backend.group_ids() == {1, 4}
    assert backend.generations(1) == [1, 2] and backend.generations(4) == [1]
    back = backend.read(1, 1, small.n, rows=slice(2, 9))
    assert back.pairs is not None and back.pairs.d == 2 and backend.pair_d(1, 1) == 2
    np.testing.assert_array_equal(back.pairs.x, signs[0, 2:9])
    np.testing.assert_array_equal(back.pairs.y, signs[1, 2:9])
    assert backend.read(1, 2, small.n).pairs is None and backend.pair_d(1, 2) is None
    with pytest.raises(StateError, match="holds 3 frames but the catalog says 4"):
        backend.read(1, 2, 4)
    backend.drop(1, 1)
    backend.drop(1, 7)  # not there: nothing happens
    assert backend.generations(1) == [2]
    with pytest.raises(StateError, match="missing or unreadable"):
        backend.read(1, 1, small.n)
    np.testing.assert_array_equal(backend.read(1, 2, small.n).mean, small.mean)


def test_a_light_read_gives_the_same_values_with_m2_read_where_indexed(
    backend: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statestore, "CHUNK", 16)  # 40 x 50: chunks of 16 with partial ones at both edges
    state, _ = _state(2, (40, 50, 3))
    signs = np.random.default_rng(2).integers(-7, 8, (2, 40, 50, 3), dtype=np.int32)
    state = stats.State(state.n, state.mean, state.m2, stats.Pairs(2, signs[0], signs[1]))
    backend.write(1, 1, state)
    light = backend.read(1, 1, state.n, light=True)
    np.testing.assert_array_equal(light.mean, state.mean)
    assert light.pairs is not None and light.pairs.x.dtype == np.int16  # as stored: 7 frames fit int16
    np.testing.assert_array_equal(light.pairs.y, signs[1])
    assert isinstance(light.m2, statestore.StoredPlane) and light.m2.shape == state.m2.shape
    for key in [
        (0, 0),
        (39, 49, 2),
        (-1, -2, 0),
        (slice(10, 35), slice(3, 47)),  # across chunk boundaries
        (slice(None), 17, 1),  # a whole column
        (5, slice(None)),
        (slice(30, 60), slice(45, 70), slice(1, 3)),  # clipped at the far edges
        (slice(12, 12), slice(0, 4)),  # empty
    ]:
        np.testing.assert_array_equal(light.m2[key], state.m2[key])
    with pytest.raises(IndexError):
        light.m2[40, 0]
    with pytest.raises(IndexError):
        light.m2[::2, 0]
    # windows and wide reads convert the pairs as before
    assert backend.read(1, 1, state.n).pairs.x.dtype == np.int32  # type: ignore[union-attr]


def test_an_object_store_finds_and_drops_a_generation_whose_metadata_was_never_written(
    s3_server: str,
) -> None:
    """A crash between chunk PUTs leaves keys without zarr.json: listing by prefix still finds them."""
    from zarr.core.buffer.cpu import Buffer
    from zarr.core.sync import sync

    store = ObjectStateStore.from_url(f"s3://{new_bucket(s3_server)}/state.zarr")
    state, _ = _state(3, (12, 10, 3))
    store.write(2, 1, state)
    sync(store.zarr_store().set("g3/v9/mean/c/0/0/0", Buffer.from_bytes(b"half a commit")))
    assert store.group_ids() == {2, 3} and store.generations(3) == [9]
    store.drop(3, 9)
    store.drop(3, 9)  # again: nothing there, nothing happens
    assert store.generations(3) == [] and store.generations(2) == [1]
    np.testing.assert_array_equal(store.read(2, 1, state.n).mean, state.mean)
