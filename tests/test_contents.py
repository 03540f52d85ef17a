"""What an unpacked wheel holds, scanned once and kept in the cache; installs from it match a scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyx_server.engine.install import contents as contents_mod
from pyx_server.engine.cache import Bucket, Cache, WheelPointer
from pyx_server.engine.install.contents import WheelContents, cached_contents, scan_contents
from pyx_server.engine.errors import InvalidWheel
from pyx_server.engine.install.installer import install_wheel
from pyx_server.engine.install.linker import Linker
from pyx_server.engine.install.wheel import unpack_wheel
from tests.support.wheels import build_wheel
from tests.test_installer import RICH, make_venv, record_rows, snapshot


def _archive(tmp_path: Path, cache: Cache, name: str = "demo-pkg", sha: str = "a" * 64, **kwargs) -> Path:
    wheel = build_wheel(tmp_path / "wheels" / sha[:8], name, "1.0", **kwargs)
    return cache.store_archive(sha, lambda d: unpack_wheel(wheel, d))


def test_scan_lists_every_file_with_record_hashes_and_dist_info_last(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    found = scan_contents(_archive(tmp_path, cache, **RICH))
    assert (found.name, found.version, found.dist_info) == ("demo-pkg", "1.0", "demo_pkg-1.0.dist-info")
    assert found.root_is_purelib
    assert {e.name for e in found.entry_points} == {"demo", "demo-app", "demo-gui"}
    paths = [(area, path) for area, path, _, _ in found.files]
    assert ("", "demo_pkg/sub/mod.py") in paths
    assert ("scripts", "plain-script") in paths and ("headers", "demo.h") in paths
    # the wheel's RECORD is not installed (the installer writes its own); METADATA is, last
    assert ("", "demo_pkg-1.0.dist-info/RECORD") not in paths
    first_info = next(i for i, (_, p) in enumerate(paths) if p.startswith("demo_pkg-1.0.dist-info/"))
    assert all(p.startswith("demo_pkg-1.0.dist-info/") for _, p in paths[first_info:])
    assert all(h and h.startswith("sha256=") and size is not None for _, _, h, size in found.files)


def test_contents_round_trip_through_json(tmp_path: Path) -> None:
    found = scan_contents(_archive(tmp_path, Cache(tmp_path / "cache"), **RICH))
    assert WheelContents.from_json(found.to_json()) == found


@pytest.mark.parametrize("stored", [b"{not json", b"[]", b'{"format": 999}', b'{"format": 1, "name": "x"}'])
def test_unreadable_or_foreign_contents_are_a_miss_and_are_rewritten(tmp_path: Path, stored: bytes) -> None:
    cache = Cache(tmp_path / "cache")
    archive = _archive(tmp_path, cache)
    store = cache.bucket(Bucket.CONTENTS)
    (store / f"{archive.name}.json").write_bytes(stored)
    found = cached_contents(archive, store)
    assert found == scan_contents(archive)
    assert json.loads((store / f"{archive.name}.json").read_bytes())["format"] == contents_mod.FORMAT


def test_stored_contents_are_read_instead_of_scanning(tmp_path: Path, monkeypatch) -> None:
    cache = Cache(tmp_path / "cache")
    archive = _archive(tmp_path, cache)
    store = cache.bucket(Bucket.CONTENTS)
    first = cached_contents(archive, store)
    assert (store / f"{archive.name}.json").is_file()

    def no_scan(_):
        raise AssertionError("scanned again")

    monkeypatch.setattr(contents_mod, "scan_contents", no_scan)
    assert cached_contents(archive, store) == first


def test_install_from_stored_contents_matches_a_scanned_install(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    archive = _archive(tmp_path, cache, **RICH)
    scanned_env, stored_env = make_venv(tmp_path / "a"), make_venv(tmp_path / "b")
    install_wheel(archive, scanned_env.scheme, python="/x/python", linker=Linker())
    stored = WheelContents.from_json(cached_contents(archive, cache.bucket(Bucket.CONTENTS)).to_json())
    install_wheel(archive, stored_env.scheme, python="/x/python", linker=Linker(), contents=stored)
    assert snapshot(scanned_env.root / "lib") == snapshot(stored_env.root / "lib")
    def installed_scripts(env) -> dict:  # the venv's own activate scripts name the venv
        return {k: v for k, v in snapshot(env.root / "bin").items() if not k.startswith(("activate", "Activate"))}

    assert installed_scripts(scanned_env) == installed_scripts(stored_env)
    assert {"demo", "demo-gui", "plain-script"} <= set(installed_scripts(stored_env))
    info = "demo_pkg-1.0.dist-info"
    assert record_rows(scanned_env.site / info) == record_rows(stored_env.site / info)


def test_a_broken_wheel_is_still_reported_when_contents_are_scanned(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    archive = cache.store_archive("b" * 64, lambda d: (d / "just_a_file.py").write_text("x = 1\n"))
    with pytest.raises(InvalidWheel, match="no .dist-info"):
        cached_contents(archive, cache.bucket(Bucket.CONTENTS))
    assert not (cache.root / Bucket.CONTENTS.value / f"{'b' * 64}.json").exists()


def test_prune_drops_contents_of_archives_that_are_gone(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    kept = _archive(tmp_path, cache, sha="1" * 64)
    dropped = _archive(tmp_path, cache, sha="2" * 64)
    store = cache.bucket(Bucket.CONTENTS)
    cached_contents(kept, store)
    cached_contents(dropped, store)
    cache.write_pointer("index-k", "demo-pkg", WheelPointer("demo_pkg-1.0-py3-none-any.whl", "1" * 64, "http://x"))
    cache.prune()
    assert (store / f"{'1' * 64}.json").is_file()
    assert not (store / f"{'2' * 64}.json").exists()
