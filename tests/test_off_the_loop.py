"""Under a running loop (a Jupyter or language server) the engine's blocking steps run off the
loop's thread: reading what is installed, asking the interpreter, creating venvs, uninstalling.

Deterministic: each blocking step records the thread it ran on, and none may be the loop's.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.envs import environment, venv
from pyx_server.engine.envs.environment import PythonEnvironment, open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.store import ensure_environment
from pyx_server.engine.install.transaction import EnvironmentChange
from pyx_server.engine.install.operations import install, uninstall_async
from pyx_server.engine.requirements import parse_requirement


@pytest.fixture
def steps(monkeypatch) -> list[tuple[str, int]]:
    """(step, thread) for every blocking step taken."""
    seen: list[tuple[str, int]] = []

    def record(name: str, fn):
        def recorded(*args, **kwargs):
            seen.append((name, threading.get_ident()))
            return fn(*args, **kwargs)
        return recorded

    monkeypatch.setattr(PythonEnvironment, "scan", record("installed", PythonEnvironment.scan))
    query = environment.query_interpreter
    monkeypatch.setattr(environment, "query_interpreter", record("interpreter", query))
    monkeypatch.setattr(venv, "create_venv", record("create venv", venv.create_venv))
    # every removal, an install's or an uninstall's, is a step of the all-or-nothing change
    monkeypatch.setattr(EnvironmentChange, "remove", record("uninstall", EnvironmentChange.remove))
    return seen


def specs(*texts: str):
    return [parse_requirement(t, source="test") for t in texts]


def test_install_and_uninstall_under_a_loop_do_their_blocking_steps_off_it(
    local_index, tmp_path: Path, cache_dir: Path, steps
) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    cache = Cache(cache_dir)
    venv.create_venv(tmp_path / "v", query_interpreter(sys.executable, cache), cache=cache)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    loop_threads: list[int] = []

    async def server() -> None:
        loop_threads.append(threading.get_ident())
        env = open_venv(tmp_path / "v", cache=cache)
        await install(specs("alpha==1.0"), env, index=settings, cache=cache)
        await uninstall_async(["alpha"], open_venv(tmp_path / "v", cache=cache), cache=cache)

    steps.clear()
    asyncio.run(server())
    taken = {name for name, _ in steps}
    assert {"installed", "interpreter", "uninstall"} <= taken, taken
    on_the_loop = [name for name, thread in steps if thread in loop_threads]
    assert on_the_loop == []


def test_the_environment_store_creates_and_fills_venvs_off_the_loop(
    local_index, tmp_path: Path, cache_dir: Path, steps
) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    cache = Cache(cache_dir)
    interpreter = query_interpreter(sys.executable, cache)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    loop_threads: list[int] = []

    async def server():
        loop_threads.append(threading.get_ident())
        return await ensure_environment(specs("alpha"), interpreter, index=settings, cache=cache, store=tmp_path)

    steps.clear()
    stored = asyncio.run(server())
    taken = {name for name, _ in steps}
    assert {"create venv", "installed"} <= taken, taken
    assert [name for name, thread in steps if thread in loop_threads] == []
    assert stored.created and sorted(stored.environment.installed()) == ["alpha"]
