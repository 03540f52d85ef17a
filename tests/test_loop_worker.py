"""engine.loop.run where a loop already runs (an IPython cell): the engine on a worker thread."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import pytest

from pyx_server.engine import locks
from pyx_server.engine.cache import Cache
from pyx_server.engine.loop import Relay, run, running_loop, to_thread
from pyx_server.engine.progress import CollectingReporter, Notice


def in_a_running_loop(fn):
    """``fn()`` called from a coroutine on a loop of this thread, as a cell's code is (a plain
    loop: ``asyncio.run`` would turn the first SIGINT into a cancellation of its own)."""
    async def cell():
        return fn()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(cell())
    finally:
        loop.close()


def test_run_under_a_running_loop_runs_the_engine_on_a_worker_thread_and_relays_its_events() -> None:
    caller = threading.get_ident()
    seen: list[tuple[str, int]] = []

    class Cell(CollectingReporter):
        def report(self, event) -> None:
            seen.append((event.message, threading.get_ident()))

    reporter = Relay(Cell())

    async def work() -> int:
        loop = await running_loop()
        reporter.report(Notice("on the worker"))
        await asyncio.sleep(0)
        await to_thread(reporter.report, Notice("from a pool thread"))
        return threading.get_ident() if loop is asyncio.get_running_loop() else -1

    engine_thread = in_a_running_loop(lambda: run(work()))
    assert engine_thread not in (caller, -1)
    # delivered on the caller's thread, in order
    assert seen == [("on the worker", caller), ("from a pool thread", caller)]


def test_errors_of_the_engine_come_out_of_run_under_a_running_loop() -> None:
    class Boom(Exception):
        pass

    async def work():
        await asyncio.sleep(0)
        raise Boom("x")

    with pytest.raises(Boom):
        in_a_running_loop(lambda: run(work()))


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_an_interrupt_while_waiting_cancels_the_engine_releases_its_locks_removes_its_files_and_is_raised(
    tmp_path: Path,
) -> None:
    assert threading.current_thread() is threading.main_thread()
    cache = Cache(tmp_path / "cache")
    lock = tmp_path / "env.lock"
    inside = threading.Event()
    ended: list[str] = []

    async def work() -> None:
        async with locks.hold(lock, what="`e`"):
            with cache.temp_dir("work-") as scratch:
                (scratch / "half").write_text("written")
                inside.set()
                try:
                    await asyncio.Event().wait()  # forever, unless cancelled
                except asyncio.CancelledError:
                    ended.append("cancelled")
                    raise

    main = threading.main_thread().ident

    def interrupt() -> None:
        inside.wait(30)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: run(work()))
    assert ended == ["cancelled"]
    assert list(cache.tmp.iterdir()) == []
    assert locks._TABLE == {}
    with locks.hold_sync(lock, what="`e`", wait=False):  # free again, across threads
        pass


def test_the_worker_runs_in_the_callers_context_so_its_locks_stay_held(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"

    async def work() -> bool:
        async with locks.hold(lock, what="`e`", wait=False):  # re-entrant: the caller holds it
            return locks.is_held(lock)

    def cell() -> bool:
        with locks.hold_sync(lock, what="`e`"):
            return run(work())

    assert in_a_running_loop(cell) is True


def test_no_fork_under_a_loop_or_beside_other_threads_and_the_work_still_gets_done() -> None:
    import os

    from pyx_server.engine import forked
    from pyx_server.engine.loop import completed

    async def jobs() -> tuple[bool, set[int]]:
        pids = {pid async for pid in completed(lambda _: os.getpid(), range(8), workers=4, processes_ok=True)}
        return forked.can_fork(), pids

    # on a loop (a server), and on the worker thread ``run`` starts under one (a cell)
    assert asyncio.run(jobs()) == (False, {os.getpid()})
    assert in_a_running_loop(lambda: run(jobs())) == (False, {os.getpid()})
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forked.can_fork() is False  # another thread runs: a fork would copy its locks mid-use
    finally:
        stop.set()
        other.join()
