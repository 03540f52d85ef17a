"""engine.locks: one lock across processes, threads and the coroutines of one loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pyx_server.engine import locks
from pyx_server.engine.errors import Busy
from pyx_server.engine.loop import run, running_loop, to_thread
from pyx_server.engine.progress import CollectingReporter, Notice
from tests.support.threads import in_thread


def waiting_notices(reporter: CollectingReporter) -> list[str]:
    return [e.message for e in reporter.events if isinstance(e, Notice) and "Waiting" in e.message]


def test_two_coroutines_of_one_loop_take_turns_and_the_second_says_it_waits(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    inside: list[str] = []
    order: list[str] = []

    async def main() -> None:
        first_in = asyncio.Event()
        release_first = asyncio.Event()
        waiting = CollectingReporter()

        async def first() -> None:
            async with locks.hold(lock, what="the environment `e`"):
                inside.append("first")
                order.append("first in")
                first_in.set()
                await release_first.wait()
                inside.remove("first")
                order.append("first out")

        async def second() -> None:
            await first_in.wait()
            async with locks.hold(lock, what="the environment `e`", reporter=waiting):
                assert inside == []  # never while the first holds it
                order.append("second in")

        a = asyncio.create_task(first())
        b = asyncio.create_task(second())
        while not waiting_notices(waiting):  # the second is waiting
            await asyncio.sleep(0.001)
        assert order == ["first in"]
        release_first.set()
        await asyncio.gather(a, b)
        assert waiting_notices(waiting) == ["Waiting for another operation on the environment `e` to finish"]

    asyncio.run(main())
    assert order == ["first in", "first out", "second in"]
    assert locks._TABLE == {}  # nothing kept once released


def test_two_threads_take_turns(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    held = threading.Event()
    release = threading.Event()
    order: list[str] = []
    waiting = CollectingReporter()

    def first() -> None:
        with locks.hold_sync(lock, what="`x`"):
            order.append("first in")
            held.set()
            release.wait(30)
            order.append("first out")

    def second() -> None:
        held.wait(30)
        with locks.hold_sync(lock, what="`x`", reporter=waiting):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    held.wait(30)
    while not waiting_notices(waiting) and threads[1].is_alive():
        threads[1].join(0.001)
    assert order == ["first in"]
    release.set()
    for t in threads:
        t.join(30)
    assert order == ["first in", "first out", "second in"]


HOLDER = """
import sys
from pyx_server.engine import locks
with locks.hold_sync(sys.argv[1], what="`x`", shared=sys.argv[2] == "shared"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _holder(lock: Path, mode: str = "exclusive") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def _finish(proc: subprocess.Popen) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(30) == 0


def test_another_process_holding_the_lock_makes_a_no_wait_caller_busy_until_it_lets_go(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    proc = _holder(lock)
    try:
        with pytest.raises(Busy) as caught:
            with locks.hold_sync(lock, what="the environment `e`", wait=False):
                pass
        assert caught.value.code == "environment-busy"
        assert "the environment `e`" in caught.value.message
        with pytest.raises(Busy):
            run(_hold_briefly(lock, wait=False))
    finally:
        _finish(proc)
    with locks.hold_sync(lock, what="`e`", wait=False):
        assert locks.is_held(lock)
    assert not locks.is_held(lock)


async def _hold_briefly(lock: Path, *, wait: bool = True, shared: bool = False) -> None:
    async with locks.hold(lock, what="`e`", wait=wait, shared=shared):
        pass


def test_a_waiting_caller_gets_the_lock_once_the_other_process_lets_go(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    proc = _holder(lock)
    waiting = CollectingReporter()

    def let_go_once_waiting(event) -> None:
        waiting.events.append(event)
        _finish(proc)

    waiting.report = let_go_once_waiting
    with locks.hold_sync(lock, what="`e`", reporter=waiting):
        pass
    assert len(waiting_notices(waiting)) == 1


def test_shared_holders_hold_together_and_exclude_an_exclusive_one(tmp_path: Path) -> None:
    lock = tmp_path / "cache.lock"
    proc = _holder(lock, "shared")
    try:
        with locks.hold_sync(lock, what="the cache", shared=True, wait=False):
            run(_hold_briefly(lock, wait=False, shared=True))  # this process's other readers too
        with pytest.raises(Busy):
            run(_hold_briefly(lock, wait=False))
    finally:
        _finish(proc)
    with locks.hold_sync(lock, what="the cache", shared=True):
        with pytest.raises(Busy):  # a thread of this process wanting it exclusively waits too
            in_thread(lambda: locks.hold_sync(lock, what="the cache", wait=False).__enter__())
    proc = _holder(lock, "exclusive")
    try:
        with pytest.raises(Busy):
            run(_hold_briefly(lock, wait=False, shared=True))
    finally:
        _finish(proc)


def test_holding_is_reentrant_within_one_operation_its_tasks_and_its_threads(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"

    async def main() -> list[str]:
        seen = []
        async with locks.hold(lock, what="`e`", wait=False):
            async with locks.hold(lock, what="`e`", wait=False):
                seen.append("nested")
            await asyncio.create_task(_hold_briefly(lock, wait=False))
            seen.append("task")
            await to_thread(lambda: locks.hold_sync(lock, what="`e`", wait=False).__enter__())
            seen.append("thread")
            assert locks.is_held(lock)
            # another operation (a context that does not descend from this one) is refused
            other = asyncio.get_running_loop().run_in_executor(
                None, lambda: locks.hold_sync(lock, what="`e`", wait=False).__enter__())
            with pytest.raises(Busy):
                await other
        assert not locks.is_held(lock)
        return seen

    assert asyncio.run(main()) == ["nested", "task", "thread"]
    assert locks._TABLE == {}


def test_a_hold_that_moved_onto_a_loop_leaves_no_stale_reentrance_behind(tmp_path: Path) -> None:
    # engine.loop.run starts a coroutine without a loop and moves it onto one (a copy of the
    # context) half-way: the hold taken before the move must not outlive its release
    lock = tmp_path / "env.lock"

    async def work() -> None:
        async with locks.hold(lock, what="`e`"):
            await running_loop()
            await asyncio.sleep(0)

    run(work())
    assert not locks.is_held(lock)
    with locks.hold_sync(lock, what="`e`", wait=False):
        with pytest.raises(Busy):  # really held again, not waved through as re-entrant
            in_thread(lambda: locks.hold_sync(lock, what="`e`", wait=False).__enter__())


def test_a_holder_cancelled_while_waiting_holds_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"

    async def main() -> None:
        waiting = CollectingReporter()
        held, done = asyncio.Event(), asyncio.Event()

        async def holder() -> None:
            async with locks.hold(lock, what="`e`"):
                held.set()
                await done.wait()

        first = asyncio.create_task(holder())
        await held.wait()
        task = asyncio.create_task(_hold_with(lock, waiting))  # a sibling: another operation
        while not waiting_notices(waiting):
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        done.set()
        await first
        assert locks._TABLE == {}
        await _hold_briefly(lock, wait=False)

    asyncio.run(main())
    assert locks._TABLE == {}


async def _hold_with(lock: Path, reporter) -> None:
    async with locks.hold(lock, what="`e`", reporter=reporter):
        raise AssertionError("got the lock while another holds it")


def test_a_timeout_ends_the_wait_with_busy(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    proc = _holder(lock)
    try:
        with pytest.raises(Busy) as caught:
            with locks.hold_sync(lock, what="`e`", timeout=0):
                pass
        assert "did not finish in time" in caught.value.hints[0]
    finally:
        _finish(proc)


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_lock_file_replaced_between_open_and_lock_is_not_taken(tmp_path: Path, monkeypatch) -> None:
    # ``cache clean`` removes lock files: a holder that opened the old file just before, then
    # locked it, would hold a lock nobody else can see while another holds the new file's
    lock = tmp_path / "env.lock"
    real_open = os.open
    holders: list[subprocess.Popen] = []

    def open_then_replace(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if os.fspath(path) == str(lock) and not holders:
            os.unlink(lock)
            holders.append(_holder(lock))  # another process makes the file anew and holds it
        return fd

    monkeypatch.setattr(locks.os, "open", open_then_replace)
    try:
        with pytest.raises(Busy):
            with locks.hold_sync(lock, what="`e`", wait=False):
                pass
    finally:
        monkeypatch.undo()
        for proc in holders:
            _finish(proc)
    assert locks._TABLE == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_forked_child_holds_nothing_of_its_parent(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    with locks.hold_sync(lock, what="`e`"):
        pid = os.fork()
        if pid == 0:  # the child: it must wait for the parent like any other process
            try:
                with locks.hold_sync(lock, what="`e`", wait=False):
                    os._exit(1)
            except Busy:
                os._exit(0 if locks._TABLE == {} else 2)
            os._exit(3)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
