"""Installs, uninstalls and the cache under one lock: coroutines of one loop, and a loop-less caller."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pyx_server.engine import locks
from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.venv import create_venv
from pyx_server.engine.errors import Busy
from pyx_server.engine.install.operations import (
    InstallResult,
    environment_lock_file,
    install,
    uninstall,
    uninstall_async,
)
from pyx_server.engine.progress import CollectingReporter, Notice, PhaseStarted
from pyx_server.engine.requirements import parse_requirement
from tests.support.threads import in_thread


def make_env(path: Path, cache: Cache):
    create_venv(path, query_interpreter(sys.executable, cache), cache=cache)
    return open_venv(path, cache=cache)


def specs(*texts: str):
    return [parse_requirement(t, source="test") for t in texts]


@pytest.fixture
def served(local_index):
    index = local_index()
    for name in ("left", "right"):
        index.build(name, "1.0", files={f"{name}/__init__.py": "", **{f"{name}/m{i}.py": "" for i in range(50)}})
    index.delay = 0.02  # both operations are in flight at once
    return index


def test_two_coroutines_installing_into_one_environment_take_turns(served, tmp_path: Path, cache_dir: Path) -> None:
    # filelock held across an await raised "Deadlock ... already held by a different FileLock
    # instance" here; now the second waits for the first, and says so
    cache = Cache(cache_dir)
    env = make_env(tmp_path / "v", cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())
    reporters = [CollectingReporter(), CollectingReporter()]

    async def both() -> list[InstallResult]:
        return await asyncio.gather(*(
            install(specs(f"{name}==1.0"), env, index=settings, cache=cache, reporter=reporter)
            for name, reporter in zip(("left", "right"), reporters)
        ))

    results = asyncio.run(both())
    assert [[c.name for c in r.installed] for r in results] == [["left"], ["right"]]
    assert sorted(open_venv(tmp_path / "v").installed()) == ["left", "right"]
    first, second = reporters
    assert not [e for e in first.events if isinstance(e, Notice)]
    notices = [e.message for e in second.events if isinstance(e, Notice)]
    assert notices == [f"Waiting for another operation on the environment `{env.root}` to finish"]
    # the second planned nothing before the first was done: its first event is the notice
    assert isinstance(second.events[0], Notice)
    assert locks._TABLE == {}


def test_plan_and_act_under_one_lock_so_a_second_install_of_the_same_finds_it_installed(
    served, tmp_path: Path, cache_dir: Path
) -> None:
    cache = Cache(cache_dir)
    env = make_env(tmp_path / "v", cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())

    async def twice() -> list[InstallResult]:
        return await asyncio.gather(*(install(specs("left==1.0"), env, index=settings, cache=cache) for _ in range(2)))

    first, second = asyncio.run(twice())
    assert [c.name for c in first.installed] == ["left"]
    # planned after the first had acted: nothing to do, rather than installing it again
    assert second.installed == [] and second.uninstalled == [] and second.audited == 1


def test_an_install_told_not_to_wait_is_busy_while_another_holds_the_environment(
    served, tmp_path: Path, cache_dir: Path
) -> None:
    cache = Cache(cache_dir)
    env = make_env(tmp_path / "v", cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())

    async def main() -> None:
        async with locks.hold(environment_lock_file(env, cache), what="x"):
            other = asyncio.get_running_loop().run_in_executor(  # another operation: another context
                None, lambda: asyncio.run(install(specs("left==1.0"), env, index=settings, cache=cache, wait=False)))
            with pytest.raises(Busy) as caught:
                await other
            assert caught.value.code == "environment-busy"
            assert f"the environment `{env.root}`" in caught.value.message

    asyncio.run(main())
    assert "left" not in open_venv(tmp_path / "v").installed()


def test_uninstall_takes_the_environment_lock(served, tmp_path: Path, cache_dir: Path) -> None:
    cache = Cache(cache_dir)
    env = make_env(tmp_path / "v", cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())
    asyncio.run(install(specs("left==1.0", "right==1.0"), env, index=settings, cache=cache))

    async def main() -> None:
        async with locks.hold(environment_lock_file(env, cache), what="x"):
            loop = asyncio.get_running_loop()
            with pytest.raises(Busy):
                await loop.run_in_executor(None, lambda: uninstall(["left"], env, cache=cache, wait=False))
            with pytest.raises(Busy):
                await loop.run_in_executor(
                    None, lambda: asyncio.run(uninstall_async(["left"], env, cache=cache, wait=False)))

    asyncio.run(main())
    assert sorted(open_venv(tmp_path / "v").installed()) == ["left", "right"]
    result = asyncio.run(uninstall_async(["left", "nope"], env, cache=cache))
    assert [c.name for c in result.uninstalled] == ["left"] and result.missing == ["nope"]
    assert sorted(open_venv(tmp_path / "v").installed()) == ["right"]


def test_cache_clean_and_prune_wait_for_an_install_using_the_cache(served, tmp_path: Path, cache_dir: Path) -> None:
    cache = Cache(cache_dir)
    env = make_env(tmp_path / "v", cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())
    outcomes: list[str] = []

    class CleanMidway(CollectingReporter):
        def report(self, event) -> None:
            super().report(event)
            if isinstance(event, PhaseStarted) and event.phase == "prepare":
                # another operation (a thread: another context) cleaning the cache now
                for fn in (lambda: cache.clean(wait=False), lambda: cache.prune(wait=False)):
                    try:
                        in_thread(fn)
                    except Busy:
                        outcomes.append("busy")

    result = asyncio.run(install(specs("left==1.0", "right==1.0"), env, index=settings, cache=cache,
                                 reporter=CleanMidway()))
    assert outcomes == ["busy", "busy"]
    assert [c.name for c in result.installed] == ["left", "right"]
    assert cache.clean(wait=False) > 0  # once the install is done
    assert not cache_dir.exists()


def test_a_python_that_is_not_a_venv_keeps_its_lock_out_of_the_parsed_locks_bucket(tmp_path: Path) -> None:
    # prune empties locks-v1 (parsed pylock files): an environment's lock there would vanish
    # while held
    cache = Cache(tmp_path / "cache")

    class System:
        is_venv = False
        root = tmp_path / "usr"

    path = environment_lock_file(System(), cache)
    assert path.parent == cache.root / "environments-v1"
    assert path.parent.name != "locks-v1"
    with locks.hold_sync(path, what="x"):
        cache.prune()
        assert path.exists()


def test_two_coroutines_needing_one_sdist_download_it_once(local_index, tmp_path: Path, cache_dir: Path) -> None:
    from pyx_server.engine.index.simple import DistFile
    from pyx_server.engine.install.operations import build_support

    index = local_index()
    served = index.add_sdist("legacy", "0.1")
    index.delay = 0.05  # both are waiting for the body at once
    cache = Cache(cache_dir)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    support = build_support(settings, cache, query_interpreter(sys.executable, cache))
    url = index.url.replace("/simple/", f"/files/{served.filename}")
    file = DistFile(filename=served.filename, url=url, index=index.url, hashes={"sha256": served.sha256})

    async def both():
        return await asyncio.gather(support.local_source(file), support.local_source(file))

    first, second = asyncio.run(both())
    assert first == second and first.is_file()
    assert len(index.requests_to(f"/files/{served.filename}")) == 1


def test_a_resolution_holds_the_cache_so_clean_waits_for_it(served, tmp_path: Path, cache_dir: Path) -> None:
    # pip compile and lock read pages and metadata from the cache without installing: clean
    # must not pull them from under the resolver either
    from pyx_server.engine.index.resolve import resolve_requirements

    cache = Cache(cache_dir)
    interpreter = query_interpreter(sys.executable, cache)
    settings = IndexSettings(indexes=(served.url,), find_links=())
    outcomes: list[str] = []

    class CleanMidway(CollectingReporter):
        def report(self, event) -> None:
            super().report(event)
            if isinstance(event, PhaseStarted) and event.phase == "resolve" and not outcomes:
                try:
                    in_thread(lambda: cache.clean(wait=False))
                    outcomes.append("cleaned")
                except Busy:
                    outcomes.append("busy")

    result = asyncio.run(resolve_requirements(specs("left", "right"), interpreter, index=settings, cache=cache,
                                              reporter=CleanMidway()))
    assert outcomes == ["busy"]
    assert sorted(result.resolution) == ["left", "right"]
