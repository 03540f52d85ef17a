"""The environment store: shared per declaration, complete or rebuilt, collected when unused."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.envs.store import MARKER, ensure_environment, environment_key, gc
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.requirements import parse_requirement


def make(local_index):
    index = local_index()
    index.build("alpha", "1.0", requires_dist=["beta"])
    index.build("beta", "2.0")
    return index


def ensure(index, cache_dir: Path, store: Path, *texts: str):
    cache = Cache(cache_dir)
    interpreter = query_interpreter(sys.executable, cache)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    specs = [parse_requirement(t) for t in texts]
    return asyncio.run(ensure_environment(specs, interpreter, index=settings, cache=cache, store=store))


def test_identical_declarations_share_one_environment(local_index, cache_dir: Path, tmp_path: Path) -> None:
    index = make(local_index)
    first = ensure(index, cache_dir, tmp_path, "alpha")
    assert first.created and sorted(first.environment.installed()) == ["alpha", "beta"]
    index.clear_log()
    again = ensure(index, cache_dir, tmp_path, "Alpha")  # same declaration, other spelling
    assert not again.created and again.path == first.path
    assert index.requests == []  # a complete environment needs no index
    other = ensure(index, cache_dir, tmp_path, "alpha", "beta>=2")
    assert other.created and other.path != first.path


def test_half_built_environment_is_rebuilt(local_index, cache_dir: Path, tmp_path: Path) -> None:
    index = make(local_index)
    first = ensure(index, cache_dir, tmp_path, "alpha")
    (first.path / MARKER).unlink()  # as if the process died before finishing
    again = ensure(index, cache_dir, tmp_path, "alpha")
    assert again.created and (again.path / MARKER).is_file()
    assert sorted(again.environment.installed()) == ["alpha", "beta"]


def test_gc_removes_unused_and_unfinished(local_index, cache_dir: Path, tmp_path: Path) -> None:
    index = make(local_index)
    used = ensure(index, cache_dir, tmp_path, "alpha")
    old = ensure(index, cache_dir, tmp_path, "beta")
    past = time.time() - 90 * 24 * 3600
    os.utime(old.path / MARKER, (past, past))
    broken = tmp_path / "envs" / "deadbeef"
    broken.mkdir()
    removed = gc(tmp_path)
    assert set(removed) == {old.path, broken}
    assert used.path.exists()


def test_key_ignores_order_and_spelling() -> None:
    class Interp:
        base_executable = Path("/usr/bin/python3")
        sys_executable = "/usr/bin/python3"
        version = (3, 11, 4)

    a = environment_key(["numpy>=1", "Pandas"], Interp())
    b = environment_key(["pandas", "NumPy >= 1"], Interp())
    assert a == b
    assert environment_key(["pandas"], Interp(), requires_python=">=3.11") != environment_key(["pandas"], Interp())


def test_two_coroutines_asking_for_one_environment_build_it_once(local_index, cache_dir: Path, tmp_path: Path) -> None:
    from pyx_server.engine.progress import CollectingReporter, Notice

    index = make(local_index)
    index.delay = 0.02
    cache = Cache(cache_dir)
    interpreter = query_interpreter(sys.executable, cache)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    reporters = [CollectingReporter(), CollectingReporter()]

    async def both():
        return await asyncio.gather(*(
            ensure_environment([parse_requirement("alpha")], interpreter, index=settings, cache=cache, store=tmp_path,
                               reporter=reporter)
            for reporter in reporters
        ))

    first, second = asyncio.run(both())
    assert (first.created, second.created) == (True, False)  # the second found it built
    assert first.path == second.path
    assert any(isinstance(e, Notice) and "Waiting for another operation" in e.message for e in reporters[1].events)


def test_gc_leaves_an_environment_being_built_alone(local_index, cache_dir: Path, tmp_path: Path) -> None:
    from pyx_server.engine import locks

    building = tmp_path / "envs" / "cafe"
    building.mkdir(parents=True)  # no marker yet: unfinished, or being built right now
    with locks.hold_sync(tmp_path / "envs" / ".cafe.lock", what="the build"):
        assert _gc_in_another_thread(tmp_path) == []
        assert building.exists()
    assert gc(tmp_path) == [building]


def _gc_in_another_thread(store: Path):
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.update(removed=gc(store)))
    t.start()
    t.join(30)
    return box["removed"]
