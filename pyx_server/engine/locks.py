"""One kind of lock for environments, declaration files and cache entries: valid across
processes, threads and the coroutines of one event loop.

A lock is named by a lock file. Two layers guard it:

* a gate per lock file in this process (a ``threading.Lock``), so only one holder in the
  process ever touches the file lock: two coroutines of one loop, or two threads, take turns
  here instead of tripping filelock's "already held by a different FileLock instance";
* the file lock itself (``filelock``, an ``flock`` on Unix), which other processes respect.

Neither is waited for by blocking the thread while a loop runs in it: a holder that cannot
get both at once tries again after a short pause (``asyncio.sleep`` under a loop, a plain
sleep without one), so a Jupyter or language server keeps serving while an operation waits.
Before waiting the first time it reports a ``Notice`` ("waiting for another operation on
…"); with ``wait=False`` it raises ``Busy`` (code ``environment-busy``) instead.

Holding is re-entrant within one operation: a lock already held in the current context
(``contextvars``: the coroutine, the tasks it starts, the threads it hands work to) is not
taken again, so a use case that holds an environment's lock can call the install that takes
it too.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from pathlib import Path

from pyx_server.engine.errors import Busy
from pyx_server.engine.progress import Notice, Reporter

#: the lock files held by the current operation (its context), for re-entrance
_HELD: ContextVar[frozenset[str]] = ContextVar("pyx_held_locks", default=frozenset())
_GATES: dict[str, threading.Lock] = {}
_GATES_GUARD = threading.Lock()
#: pauses between attempts while waiting: short first (most waits are short), then steady
_PAUSES = (0.01, 0.02, 0.05, 0.1)
_STEADY = 0.2


def _gate(key: str) -> threading.Lock:
    with _GATES_GUARD:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = threading.Lock()
        return gate


class _Lock:
    """The state of one acquisition: the gate and the file lock, taken in that order."""

    def __init__(self, path: Path | str, what: str, reporter: Reporter | None, wait: bool,
                 timeout: float | None) -> None:
        self.key = os.path.abspath(path)
        self.what = what
        self.reporter = reporter
        self.wait = wait
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.reentrant = self.key in _HELD.get()
        self.attempts = 0
        self.file = None

    def try_once(self) -> bool:
        """Take the gate, then the file lock, without blocking; True when both are held."""
        gate = _gate(self.key)
        if not gate.acquire(blocking=False):
            return False
        try:
            from filelock import FileLock, Timeout

            if self.file is None:
                Path(self.key).parent.mkdir(parents=True, exist_ok=True)
                # not thread-local: the holder may be released from another thread (a
                # coroutine that moved onto a loop, a worker finishing an operation)
                self.file = FileLock(self.key, thread_local=False)
            try:
                self.file.acquire(timeout=0)
            except Timeout:
                gate.release()
                return False
        except BaseException:
            gate.release()
            raise
        return True

    def pause(self) -> float:
        """Before waiting: fail when asked not to wait (or past the timeout), say so once, and
        return how long to pause."""
        if not self.wait or (self.deadline is not None and time.monotonic() >= self.deadline):
            raise Busy(f"another operation is using {self.what}",
                       context={"lock": self.key},
                       hints=["try again when it has finished"] if not self.wait else
                             ["the other operation did not finish in time; try again when it has"])
        if self.attempts == 0 and self.reporter is not None:
            self.reporter.report(Notice(f"Waiting for another operation on {self.what} to finish"))
        delay = _PAUSES[self.attempts] if self.attempts < len(_PAUSES) else _STEADY
        self.attempts += 1
        return delay

    def enter(self) -> None:
        _HELD.set(_HELD.get() | {self.key})

    def release(self) -> None:
        # not ``ContextVar.reset``: the release may run in a copy of the acquiring context
        # (a coroutine moved onto a loop's task between the two)
        _HELD.set(_HELD.get() - {self.key})
        try:
            if self.file is not None:
                self.file.release()
        finally:
            _gate(self.key).release()


@contextlib.asynccontextmanager
async def hold(path: Path | str, *, what: str, reporter: Reporter | None = None, wait: bool = True,
               timeout: float | None = None) -> AsyncIterator[None]:
    """``async with hold(lock_file, what="the environment `…`"):`` holds the lock for the block.

    ``what`` names the guarded thing in the waiting notice and the ``Busy`` error. Under a
    running loop the wait never blocks the loop; without one (``engine.loop.run``'s loop-less
    start) it sleeps, since nothing else runs in the thread then.
    """
    lock = _Lock(path, what, reporter, wait, timeout)
    if lock.reentrant:
        yield
        return
    from pyx_server.engine.loop import current_loop

    while not lock.try_once():
        delay = lock.pause()
        if current_loop() is None:
            time.sleep(delay)
        else:
            import asyncio

            await asyncio.sleep(delay)
    lock.enter()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def hold_sync(path: Path | str, *, what: str, reporter: Reporter | None = None, wait: bool = True,
              timeout: float | None = None) -> Iterator[None]:
    """The same lock for synchronous code that runs on a thread of its own (never on a loop's
    thread: it sleeps while it waits)."""
    lock = _Lock(path, what, reporter, wait, timeout)
    if lock.reentrant:
        yield
        return
    while not lock.try_once():
        time.sleep(lock.pause())
    lock.enter()
    try:
        yield
    finally:
        lock.release()


def is_held(path: Path | str) -> bool:
    """Whether the current operation holds the lock ``path`` (for assertions in the engine)."""
    return os.path.abspath(path) in _HELD.get()
