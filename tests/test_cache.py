"""The global cache: location, atomic entries, locks across processes, clean and prune."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from pyx_server.engine.cache import Bucket, Cache, WheelPointer, atomic_write_bytes, default_cache_dir


def test_cache_dir_from_env_and_platformdirs(tmp_path: Path) -> None:
    assert default_cache_dir({"PYX_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    default = default_cache_dir({})
    assert default.name == "pyx" and str(default).startswith(os.environ["XDG_CACHE_HOME"])


def test_buckets_are_versioned(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.bucket(Bucket.ARCHIVE) == tmp_path / "archive-v1"
    assert all(b.value.rsplit("-", 1)[1].startswith("v") for b in Bucket)


def test_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_failed_populate_leaves_no_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def boom(dest: Path) -> None:
        (dest / "half").write_text("x")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        cache.store_archive("f" * 64, boom)
    assert cache.archive("f" * 64) is None
    assert list(cache.tmp.iterdir()) == []


def _populate_slowly(root: str, sha: str, log: str) -> None:
    import time

    cache = Cache(root)

    def populate(dest: Path) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        for i in range(50):
            (dest / f"f{i}").write_text(str(i))
            time.sleep(0.002)

    cache.store_archive(sha, populate)


def test_two_processes_store_the_same_archive_once(tmp_path: Path) -> None:
    sha = "c" * 64
    log = tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_populate_slowly, args=(str(tmp_path / "cache"), sha, str(log))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(log.read_text().split()) == 1  # unpacked once
    entry = Cache(tmp_path / "cache").archive(sha)
    assert entry is not None and len(list(entry.iterdir())) == 50


def test_pointers_roundtrip_and_corrupt_pointer_is_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    pointer = WheelPointer(filename="a-1-py3-none-any.whl", sha256="d" * 64, url="http://x/a.whl", size=3)
    cache.write_pointer("index-k", "a", pointer)
    assert cache.read_pointer("index-k", "a", pointer.filename) == pointer
    cache.pointer_path("index-k", "a", pointer.filename).write_text("{not json")
    assert cache.read_pointer("index-k", "a", pointer.filename) is None


def test_prune_removes_unreferenced_archives_and_debris(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    keep = cache.store_archive("1" * 64, lambda d: (d / "x").write_text("1"))
    drop = cache.store_archive("2" * 64, lambda d: (d / "x").write_text("2"))
    cache.write_pointer("index-k", "a", WheelPointer("a-1-py3-none-any.whl", "1" * 64, "http://x"))
    (cache.tmp / "archive-interrupted").mkdir()
    removed = cache.prune()
    assert keep.exists() and not drop.exists()
    assert {p.name for p in removed} == {"2" * 64, "archive-interrupted"}


def test_clean_one_package_and_everything(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    a = cache.store_archive("1" * 64, lambda d: (d / "x").write_text("1"))
    b = cache.store_archive("2" * 64, lambda d: (d / "x").write_text("2"))
    cache.write_pointer("index-k", "a", WheelPointer("a-1-py3-none-any.whl", "1" * 64, "http://x"))
    cache.write_pointer("index-k", "b", WheelPointer("b-1-py3-none-any.whl", "2" * 64, "http://x"))
    atomic_write_bytes(cache.bucket(Bucket.SIMPLE) / "index-k" / "a.body", b"page")
    assert cache.clean("A") >= 2
    assert not a.exists() and b.exists()
    assert not (cache.bucket(Bucket.SIMPLE) / "index-k" / "a.body").exists()
    cache.clean()
    assert not cache.root.exists()


def test_prune_drops_build_environments_but_keeps_built_wheels(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    builds = cache.bucket(Bucket.BUILDS)
    for part in ("envs/abc/bin", "trees/k/wheel", "sdists/sha/x", "wheels/sha"):
        (builds / part).mkdir(parents=True)
    (builds / "wheels" / "sha" / "x-1-py3-none-any.whl").write_bytes(b"w")
    cache.prune()
    assert not any(list((builds / p).iterdir()) for p in ("envs", "trees", "sdists"))
    assert (builds / "wheels" / "sha" / "x-1-py3-none-any.whl").exists()
