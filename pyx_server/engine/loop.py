"""Runs engine coroutines for synchronous fronts, starting an event loop only once one is needed.

DESIGN.md: the engine's I/O is async, and synchronous fronts (the CLI, the magic) run it on a
loop of their own. But most of what the engine does on a warm cache waits on no I/O at all: a
warm install plans from cached files and links on worker threads. Importing asyncio (with
ssl, socket, selectors and concurrent.futures) and running a loop is then a tenth of a CLI run
(about 18 ms of 170 ms on the benchmark machine).

So ``run`` first drives the coroutine itself, with nothing else running. Engine code that
needs the loop (network, sub-processes, concurrency between coroutines) says so first with
``await running_loop()``. When no loop runs, that suspends the coroutine once, and ``run``
hands the very same coroutine to ``asyncio.run``, which drives it from there on. Nothing is
done twice and nothing is lost: the coroutine simply continues on the loop.

Under a running loop (the Jupyter server, the language server) every helper here is plain
asyncio, so those fronts never block their loop. A synchronous caller in a thread where a loop
already runs (an IPython cell) gets the engine on a worker thread with a loop of its own:
``run`` waits for it, delivering a ``Relay`` reporter's events on the caller's thread, and an
interrupt of the wait cancels the engine cleanly.

Helpers for work that must not block a loop yet needs none: ``to_thread`` and ``completed``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from pyx_server.engine.progress import Reporter

T = TypeVar("T")
R = TypeVar("R")

#: what a coroutine yields to ``run`` when it needs an event loop from that point on
_NEEDS_LOOP = object()


def current_loop():
    """The event loop running in this thread, or None (asyncio is not even imported for this)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LoopNeeded:
    """Awaitable: nothing under a running loop; otherwise one suspension that ``run`` answers
    by moving the coroutine onto a new loop."""

    __slots__ = ()

    def __await__(self):
        if current_loop() is None:
            yield _NEEDS_LOOP
        return None


async def running_loop():
    """The running event loop, moving onto one first when the engine runs without (see ``run``).

    Every engine path that uses asyncio (futures, tasks, ``gather``, sockets) awaits this
    before it does.
    """
    await _LoopNeeded()
    import asyncio

    return asyncio.get_running_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run the engine coroutine ``coro`` to its end from synchronous code (``asyncio.run``'s place).

    It runs without an event loop until it awaits ``running_loop()``; the rest of it runs
    under ``asyncio.run``.

    Called where a loop already runs in this thread (every IPython cell runs inside one), it
    runs ``coro`` on a worker thread with a loop of its own and waits for it, delivering the
    events of a ``Relay`` reporter on this thread meanwhile. An interrupt of the wait
    (``KeyboardInterrupt``) cancels the engine's task, waits for it to clean up (locks
    released, temporary files removed) and is raised again.
    """
    if current_loop() is not None:
        return _run_on_worker(coro)
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return done.value
    if yielded is not _NEEDS_LOOP:
        coro.close()
        raise RuntimeError(
            f"an engine coroutine waited on {yielded!r} without an event loop: it must await running_loop() first"
        )
    import asyncio

    return asyncio.run(_continue(coro))


def _run_on_worker(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio
    import contextvars
    import threading

    mailbox = _mailbox()
    state: dict[str, Any] = {}
    started = threading.Event()

    def work() -> None:
        loop = asyncio.new_event_loop()
        try:
            task = state["task"] = loop.create_task(coro)
            state["loop"] = loop
            started.set()
            try:
                state["result"] = loop.run_until_complete(task)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                state["error"] = exc
            finally:
                _close(loop)
        finally:
            started.set()
            mailbox.put(_DONE)

    # a copy of the caller's context: what it holds (engine.locks) it holds for the engine too
    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), name="pyx-engine", daemon=True)
    try:
        worker.start()
        _deliver(mailbox)
    except BaseException:
        # interrupted (or the caller's reporter failed): cancel the engine, let it clean up
        if worker.ident is not None:  # (it started)
            started.wait()
            loop, task = state.get("loop"), state.get("task")
            if loop is not None and task is not None:
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:
                    pass  # the loop already closed: the engine has ended
            _deliver(mailbox)
            worker.join()
        else:
            coro.close()
        raise
    worker.join()
    if "error" in state:
        raise state["error"]
    return state["result"]


def _close(loop) -> None:
    """What ``asyncio.run`` does on the way out: cancel what is left, close generators and the
    default executor, close the loop."""
    import asyncio

    try:
        left = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in left:
            t.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


#: put in a mailbox when the engine's thread has ended
_DONE = object()
_MAILBOXES = None


def _mailbox():
    """This thread's mailbox: events a ``Relay`` made on this thread received elsewhere."""
    global _MAILBOXES
    import threading

    if _MAILBOXES is None:
        _MAILBOXES = threading.local()
    box = getattr(_MAILBOXES, "box", None)
    if box is None:
        import queue

        box = _MAILBOXES.box = queue.SimpleQueue()
    return box


def _deliver(mailbox) -> None:
    """Hand each event in ``mailbox`` to its reporter, on this thread, until the engine ends."""
    while True:
        item = mailbox.get()
        if item is _DONE:
            return
        reporter, event = item
        reporter.report(event)


class Relay(Reporter):
    """A reporter for ``run`` under a running loop: events reported on the thread that made it
    go straight to ``reporter``; events from the engine's worker thread are delivered on the
    making thread while it waits in ``run`` (a cell's output belongs to the cell's thread).

    ``reporter = Relay(cell_reporter)``, then ``run(api.add(ctx.replace(reporter=reporter), …))``.
    """

    def __init__(self, reporter: Reporter) -> None:
        import threading

        self.inner = reporter
        self.wants_progress = reporter.wants_progress
        self._owner = threading.get_ident()
        self._mailbox = _mailbox()

    def no_threads(self):
        return self.inner.no_threads()

    def report(self, event) -> None:
        import threading

        if threading.get_ident() == self._owner:
            self.inner.report(event)
        else:
            self._mailbox.put((self.inner, event))


class _Resume:
    """Awaitable continuing a coroutine suspended at ``_LoopNeeded``: the loop's task drives it
    from there (results, exceptions and cancellation pass straight through ``yield from``)."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine) -> None:
        self._coro = coro

    def __await__(self):
        return (yield from self._coro.__await__())


async def _continue(coro: Coroutine[Any, Any, T]) -> T:
    return await _Resume(coro)


async def to_thread(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``fn(*args, **kwargs)`` on a worker thread under a running loop (in a copy of this
    context: locks held stay held there); called directly without one (nothing else would
    run meanwhile)."""
    if current_loop() is None:
        return fn(*args, **kwargs)
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


async def completed(fn: Callable[[T], R], items: Iterable[T], workers: int, *, processes_ok: bool = False,
                    weight: Callable[[T], float] | None = None) -> AsyncIterator[R]:
    """``fn(item)`` for every item on up to ``workers`` threads, yielding each result as it is
    ready: awaited on the running loop, or waited for by this thread when none runs.

    ``processes_ok``: the jobs are complete in themselves and their results picklable, so when
    nothing else runs in this process (``forked.can_fork``) they are shared, by ``weight``,
    between it and forked copies of it instead: GIL-free (see ``engine.forked``).

    The first exception raised by ``fn`` propagates once the work already started has ended.
    """
    from concurrent.futures import ThreadPoolExecutor

    items = list(items)
    if processes_ok and workers > 1 and len(items) > 1 and current_loop() is None:
        from pyx_server.engine import forked

        if forked.can_fork():
            for result in forked.run_forked(fn, items, min(workers, len(items)), weight or (lambda _: 1.0)):
                yield result
            return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        loop = current_loop()
        if loop is None:
            from concurrent.futures import as_completed

            for future in as_completed([pool.submit(fn, item) for item in items]):
                yield future.result()
        else:
            import asyncio

            for future in asyncio.as_completed([loop.run_in_executor(pool, fn, item) for item in items]):
                yield await future


class Slots:
    """An async limit of ``count`` holders at once whose waiting holders come in by priority:
    the highest first, then in the order they came (a semaphore that serves the most
    important waiter). Used under a running loop.

    Wheels, say, are downloaded and unpacked largest first: the biggest takes longest to
    unpack, so it should not be the one left for the end.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._free = count
        self._waiting: list[tuple[float, int, Any]] = []
        self._arrivals = 0

    def hold(self, priority: float = 0):
        """``async with slots.hold(priority):`` holds one slot for the block."""
        return _Held(self, priority)

    async def _acquire(self, priority: float) -> None:
        import asyncio
        import heapq

        if self._free > 0:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._arrivals += 1
        heapq.heappush(self._waiting, (-priority, self._arrivals, turn))
        try:
            await turn
        except BaseException:
            if not turn.cancelled() and turn.done():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        import heapq

        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the waiter
                return
        self._free += 1


class _Held:
    __slots__ = ("_slots", "_priority")

    def __init__(self, slots: Slots, priority: float) -> None:
        self._slots = slots
        self._priority = priority

    async def __aenter__(self) -> None:
        await self._slots._acquire(self._priority)

    async def __aexit__(self, *exc: object) -> None:
        self._slots._release()
