"""A server does not wait behind another operation when asked not to: ``Context.wait`` False
turns a held environment or cache into the coded ``environment-busy`` error, and waiting
(the default) is announced by a notice reported on the operation's thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from pyx_server.engine.api import Context, IndexRequest, cache_clean, cache_prune, pip_install, pip_uninstall
from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.venv import create_venv
from pyx_server.engine.errors import Busy
from pyx_server.engine.install.operations import environment_lock
from pyx_server.engine.progress import Notice, Reporter


class ThreadsSeen(Reporter):
    """Records each event with the thread that reported it."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, int]] = []

    def report(self, event) -> None:
        self.seen.append((event, threading.get_ident()))


def context(root: Path, cache_dir: Path, **options) -> Context:
    env = {"PATH": os.environ.get("PATH", ""), "PIP_CONFIG_FILE": os.devnull, "HOME": str(root),
           "PYX_DATA_DIR": str(root / "data")}
    return Context(cache=Cache(cache_dir), env=env, cwd=root, **options)


async def _while_held(hold, work, seconds: float = 0.5):
    """Run ``work`` while another operation (a task of its own, as another request would be)
    holds ``hold`` for ``seconds``."""
    held = asyncio.Event()

    async def other() -> None:
        async with hold():
            held.set()
            await asyncio.sleep(seconds)

    task = asyncio.create_task(other())
    await held.wait()
    try:
        return await work()
    finally:
        await task


@pytest.fixture
def project(local_index, tmp_path: Path, cache_dir: Path):
    index = local_index()
    index.build("alpha", "1.0")
    cache = Cache(cache_dir)
    create_venv(tmp_path / ".venv", query_interpreter(sys.executable, cache), cache=cache)
    return tmp_path, index.url


def test_a_held_environment_is_busy_for_a_caller_that_will_not_wait(project, cache_dir: Path) -> None:
    root, url = project
    ctx = context(root, cache_dir, index=IndexRequest(index_url=url), wait=False)
    env = open_venv(root / ".venv", cache=ctx.cache)

    async def scenario():
        with pytest.raises(Busy) as install_busy:
            await _while_held(lambda: environment_lock(env, ctx.cache),
                              lambda: pip_install(ctx, ["alpha==1.0"]))
        with pytest.raises(Busy) as uninstall_busy:
            await _while_held(lambda: environment_lock(env, ctx.cache),
                              lambda: pip_uninstall(ctx, ["alpha"]))
        return install_busy.value, uninstall_busy.value

    installing, uninstalling = asyncio.run(scenario())
    assert installing.code == uninstalling.code == "environment-busy"
    assert str(root / ".venv") in installing.message
    assert open_venv(root / ".venv").installed() == {}


def test_clean_and_prune_wait_with_a_notice_on_the_loops_thread_or_are_busy(project, cache_dir: Path) -> None:
    root, _ = project
    reporter = ThreadsSeen()
    ctx = context(root, cache_dir, reporter=reporter)
    (ctx.cache.root / "simple-v2").mkdir(parents=True)
    (ctx.cache.root / "simple-v2" / "page").write_text("x")
    loop_thread: list[int] = []

    async def scenario():
        loop_thread.append(threading.get_ident())
        cleaned = await _while_held(lambda: ctx.cache.in_use(), lambda: cache_clean(ctx))
        with pytest.raises(Busy):
            await _while_held(lambda: ctx.cache.in_use(), lambda: cache_prune(ctx.replace(wait=False)))
        return cleaned

    cleaned = asyncio.run(scenario())
    assert cleaned.files >= 1 and not (ctx.cache.root / "simple-v2" / "page").exists()
    waiting = [(e, t) for e, t in reporter.seen if isinstance(e, Notice) and "Waiting" in e.message]
    assert waiting and all(t == loop_thread[0] for _, t in waiting), reporter.seen
    assert waiting[0][0].operation  # stamped with the use case's operation id
