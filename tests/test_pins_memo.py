"""The pins a lock gives an interpreter are computed once and kept; any change of input is a miss."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pyx_server.engine.declared import locking as locking_module
from pyx_server.engine.declared import model as model_module
from pyx_server.engine.errors import StaleLock
from pyx_server.engine.cache import Bucket, Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.declared import lock, pins, read_declaration
from pyx_server.engine.envs.interpreter import query_interpreter
from tests.support.cli import fresh_python


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

    monkeypatch.setattr(locking_module, "read_current_lock", no_lock)
    again_specs, again_files = run_pins(script, cache, settings, interpreter)
    assert [str(s) for s in again_specs] == [str(s) for s in specs]
    assert {k: v.filename for k, v in again_files.items()} == {k: v.filename for k, v in files.items()}


def test_a_changed_declaration_is_not_answered_from_the_memo(locked_script) -> None:
    script, cache, settings, interpreter = locked_script
    run_pins(script, cache, settings, interpreter)
    script.write_text(script.read_text().replace('["greet"]', '["greet", "other"]'))
    with pytest.raises(StaleLock):
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


# -- the declaration memo: an unchanged script or notebook is not parsed again ----------------

NOTEBOOK = """{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": null,
   "id": "meta",
   "metadata": {},
   "outputs": [],
   "source": [
    "# /// script\\n",
    "# requires-python = \\">=3.10\\"\\n",
    "# dependencies = [\\"alpha>=1\\"]\\n",
    "# ///"
   ]
  }
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 5
}
"""


def test_an_unchanged_notebook_is_read_from_the_memo_and_a_changed_one_again(tmp_path, monkeypatch) -> None:
    cache = Cache(tmp_path / "cache")
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(NOTEBOOK)
    first = read_declaration(notebook, cache)
    assert [str(r.requirement) for r in first.requirements] == ["alpha>=1"]
    parsed = []
    real = model_module._read_declaration
    monkeypatch.setattr(model_module, "_read_declaration", lambda p: parsed.append(p) or real(p))
    assert read_declaration(notebook, cache) == first and parsed == []  # from the memo
    notebook.write_text(NOTEBOOK.replace('alpha>=1\\"', 'alpha>=2\\", \\"beta\\"'))
    again = read_declaration(notebook, cache)
    assert parsed == [notebook] and [str(r.requirement) for r in again.requirements] == ["alpha>=2", "beta"]


def test_a_malformed_notebook_is_an_error_every_time_and_never_memoized(tmp_path) -> None:
    from pyx_server.engine.errors import PyxError

    cache = Cache(tmp_path / "cache")
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(NOTEBOOK.replace('"# ///"', '"# no closing line"'))
    for _ in range(2):
        with pytest.raises(PyxError):
            read_declaration(notebook, cache)
    assert list(cache.root.glob(f"{Bucket.LOCKS.value}/declaration-*")) == []


def test_a_lock_rewritten_in_place_is_read_anew_even_with_the_same_size_and_mtime(tmp_path) -> None:
    import os

    from pyx_server.engine.inline.nbmeta import read_lock_text, write_lock_text

    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(NOTEBOOK)
    assert write_lock_text(notebook, 'lock-version = "1.0"\n# AAAA\n')
    stat = notebook.stat()
    assert read_lock_text(notebook).endswith("AAAA\n")
    assert write_lock_text(notebook, 'lock-version = "1.0"\n# BBBB\n')
    os.utime(notebook, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a coarse clock: same mtime, same size
    assert notebook.stat().st_size == stat.st_size
    assert read_lock_text(notebook).endswith("BBBB\n")


def test_reading_a_notebooks_lock_does_not_load_the_inline_metadata_parser() -> None:
    code = (
        "import sys\n"
        "import pyx_server.engine.inline.nbmeta\n"
        "from pyx_server.engine.inline import UvIndex\n"
        "print(sorted(m for m in sys.modules if m.startswith('pyx_server.engine.inline.')))\n"
    )
    out = fresh_python(code)
    assert out == "['pyx_server.engine.inline.model', 'pyx_server.engine.inline.nbmeta']"
