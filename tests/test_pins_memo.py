"""The pins a lock gives an interpreter are computed once and kept; any change of input is a miss."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pyx_server.engine import declared as declared_module
from pyx_server.engine.cache import Bucket, Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.declared import lock, pins, read_declaration
from pyx_server.engine.interpreter import query_interpreter


@pytest.fixture
def locked_script(local_index, tmp_path: Path):
    index = local_index()
    index.build("greet", "1.0", requires_dist=["dep"])
    index.build("dep", "0.1")
    index.build("other", "3.0")
    script = tmp_path / "s.py"
    script.write_text('# /// script\n# dependencies = ["greet"]\n# ///\nprint(1)\n')
    cache = Cache(tmp_path / "cache")
    settings = IndexSettings(indexes=(index.url,), find_links=())
    interpreter = query_interpreter(sys.executable, cache)
    asyncio.run(lock(read_declaration(script), interpreter, index=settings, cache=cache))
    return script, cache, settings, interpreter


def run_pins(script: Path, cache: Cache, settings: IndexSettings, interpreter, **options):
    return asyncio.run(pins(read_declaration(script), interpreter, index=settings, cache=cache, **options))


def memos(cache: Cache) -> list[Path]:
    return sorted((cache.root / Bucket.LOCKS.value).glob("pins-*.pickle"))


def test_pins_are_read_back_without_reading_the_lock(locked_script, monkeypatch: pytest.MonkeyPatch) -> None:
    script, cache, settings, interpreter = locked_script
    specs, files = run_pins(script, cache, settings, interpreter)
    assert sorted(s.name for s in specs) == ["dep", "greet"] and set(files) == {"dep", "greet"}
    assert len(memos(cache)) == 1

    def no_lock(*_args, **_kwargs):
        raise AssertionError("the lock was read")

    monkeypatch.setattr(declared_module, "read_current_lock", no_lock)
    again_specs, again_files = run_pins(script, cache, settings, interpreter)
    assert [str(s) for s in again_specs] == [str(s) for s in specs]
    assert {k: v.filename for k, v in again_files.items()} == {k: v.filename for k, v in files.items()}


def test_a_changed_declaration_is_not_answered_from_the_memo(locked_script) -> None:
    script, cache, settings, interpreter = locked_script
    run_pins(script, cache, settings, interpreter)
    script.write_text(script.read_text().replace('["greet"]', '["greet", "other"]'))
    with pytest.raises(declared_module.StaleLock):
        run_pins(script, cache, settings, interpreter, locked=True)  # stale: refused, not remembered
    specs, _ = run_pins(script, cache, settings, interpreter)  # relocked
    assert "other" in {s.name for s in specs}


def test_a_changed_lock_or_a_broken_memo_is_a_miss(locked_script) -> None:
    script, cache, settings, interpreter = locked_script
    run_pins(script, cache, settings, interpreter)
    (memo,) = memos(cache)
    memo.write_bytes(b"not a pickle")
    specs, _ = run_pins(script, cache, settings, interpreter)
    assert sorted(s.name for s in specs) == ["dep", "greet"]
    lock_file = script.parent / "pylock.s.toml"
    lock_file.write_text(lock_file.read_text() + "\n# edited\n")
    run_pins(script, cache, settings, interpreter)
    assert len(memos(cache)) == 2  # the edited lock has a memo of its own
