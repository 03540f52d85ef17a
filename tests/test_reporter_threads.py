"""The Reporter's thread contract (engine.progress): ``report`` is called only on the thread
that runs the operation, never from pool threads or workers."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.venv import create_venv
from pyx_server.engine.install.operations import install, uninstall_async
from pyx_server.engine.loop import run
from pyx_server.engine.progress import Notice, Reporter
from pyx_server.engine.requirements import parse_requirement


class ThreadRecorder(Reporter):
    def __init__(self) -> None:
        self.seen: list[tuple[object, int]] = []

    def report(self, event) -> None:
        self.seen.append((event, threading.get_ident()))

    def threads(self) -> set[int]:
        return {ident for _, ident in self.seen}


def specs(*texts: str):
    return [parse_requirement(t, source="test") for t in texts]


def _setup(local_index, tmp_path: Path, cache_dir: Path):
    index = local_index()
    for version in ("1.0", "2.0"):
        for name in ("alpha", "beta", "gamma"):
            index.build(name, version, files={f"{name}/__init__.py": f"V = {version!r}\n",
                                              **{f"{name}/m{i}.py": "" for i in range(30)}})
    cache = Cache(cache_dir)
    create_venv(tmp_path / "v", query_interpreter(sys.executable, cache), cache=cache)
    env = open_venv(tmp_path / "v", cache=cache)
    return IndexSettings(indexes=(index.url,), find_links=()), cache, env


def _escape_record(env, name: str) -> None:
    """A RECORD line outside the environment: replacing the wheel skips it with a Notice."""
    record = env.installed()[name].dist_info / "RECORD"
    record.write_text(record.read_text() + "../../../../../../outside-the-env.txt,,\n")


# Replacing a wheel whose RECORD points outside the environment skips that line with a Notice:
# the removal runs on a worker thread (install.act), its notices are reported from here.
@pytest.mark.parametrize("under_loop", [True, False], ids=["loop", "loop-less"])
def test_an_install_with_replacements_reports_only_on_the_operations_thread(
    local_index, tmp_path: Path, cache_dir: Path, under_loop: bool
) -> None:
    settings, cache, env = _setup(local_index, tmp_path, cache_dir)
    go = (lambda coro: asyncio.run(coro)) if under_loop else run
    first = ThreadRecorder()
    go(install(specs("alpha==1.0", "beta==1.0", "gamma==1.0"), env, index=settings, cache=cache, reporter=first))
    for name in ("alpha", "beta", "gamma"):
        _escape_record(env, name)
    second = ThreadRecorder()
    env = open_venv(tmp_path / "v", cache=cache)
    result = go(install(specs("alpha==2.0", "beta==2.0", "gamma==2.0"), env, index=settings, cache=cache,
                        reporter=second))
    assert sorted(c.name for c in result.uninstalled) == ["alpha", "beta", "gamma"]
    skipped = [e for e, _ in second.seen if isinstance(e, Notice) and "outside the environment" in e.message]
    assert len(skipped) == 3  # the replacements did report
    here = threading.get_ident()
    assert first.threads() == {here}
    off = [type(e).__name__ for e, t in second.seen if t != here]
    assert off == [], off


def test_uninstall_under_a_loop_reports_on_the_loops_thread(local_index, tmp_path: Path, cache_dir: Path) -> None:
    settings, cache, env = _setup(local_index, tmp_path, cache_dir)
    asyncio.run(install(specs("alpha==1.0", "beta==1.0"), env, index=settings, cache=cache))
    recorder = ThreadRecorder()
    threads_used: list[int] = []

    async def main():
        threads_used.append(threading.get_ident())
        return await uninstall_async(["alpha", "beta"], env, cache=cache, reporter=recorder)

    result = asyncio.run(main())
    assert [c.name for c in result.uninstalled] == ["alpha", "beta"]
    assert len(recorder.seen) == 2 and recorder.threads() == set(threads_used)
