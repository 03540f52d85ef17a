"""One kind of lock for environments, declaration files and cache entries: valid across
processes, threads and the coroutines of one event loop.

A lock is named by a lock file. Two layers guard it:

* a table of the locks this process holds (guarded by a ``threading.Lock`` taken only for a
  few dictionary operations, never while waiting): two coroutines of one loop, or two
  threads, take turns here. A file lock alone cannot tell them apart: both are this
  process, and ``flock`` would let the second in (or filelock raise "already held by a
  different FileLock instance");
* the operating system's lock on the file, which other processes respect: ``flock`` on
  POSIX (shared or exclusive), ``filelock.FileLock`` elsewhere (exclusive only, so shared
  holders in different processes take turns there). ``flock`` directly rather than filelock
  because the cache needs shared holds (every install reads it, ``cache clean`` empties it)
  and filelock's only reader/writer lock keeps its state in SQLite: 20 ms more to import on
  every warm install, holds bound to the thread that took them (an engine coroutine moves
  between threads), and hooks of its own around ``fork``.

Neither is waited for by blocking the thread while a loop runs in it: a holder that cannot
get the lock tries again after a short pause (``asyncio.sleep`` under a loop, a plain sleep
without one), so a Jupyter or language server keeps serving while an operation waits.
Before waiting the first time it reports a ``Notice`` ("waiting for another operation on
…"); with ``wait=False`` it raises ``Busy`` (code ``environment-busy``) instead. A holder
cancelled while it waits holds nothing.

Holding is re-entrant within one operation: a lock held in the current context
(``contextvars``: the coroutine, the tasks it starts, the threads ``to_thread`` hands work
to) is not taken again, so a use case that holds an environment's lock can call the install
that takes it too. The context records a token per hold, and a token counts only while the
table says it still holds the lock: a context copied before a release (a coroutine that
moved onto a loop's task) keeps a stale token that grants nothing.

A forked worker process (``engine.forked``) starts with an empty table: it holds nothing of
its parent's (their file descriptors are inherited, but only the parent releases them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from pathlib import Path

from pyx_server.engine.errors import Busy
from pyx_server.engine.progress import Notice, Reporter

__all__ = ["hold", "hold_sync", "is_held"]

#: (lock file, token) of every hold made by the current operation (its context), for re-entrance
_HELD: ContextVar[frozenset[tuple[str, int]]] = ContextVar("pyx_held_locks", default=frozenset())
#: pauses between attempts while waiting: short first (most waits are short), then steady
_PAUSES = (0.005, 0.01, 0.02, 0.05)
_STEADY = 0.1
_TOKENS = itertools.count(1)

#: the code of the notice a holder reports before it waits (a front shows it even when quiet
#: about other information: a command that seems to hang should say why)
WAITING = "waiting-for-lock"


class _Entry:
    """A lock this process holds: how (shared or not), by which holds, and the OS lock."""

    __slots__ = ("shared", "holders", "os_lock")

    def __init__(self, shared: bool, holder: int, os_lock: _OsLock) -> None:
        self.shared = shared
        self.holders = {holder}
        self.os_lock = os_lock


#: lock file → the process's hold on it; an entry exists only while someone holds the lock,
#: so a long-lived server keeps nothing of the locks it took before
_TABLE: dict[str, _Entry] = {}
_GUARD = threading.Lock()


def _forget_in_child() -> None:
    """After ``fork``, in the child: the parent's holds are not the child's."""
    global _GUARD
    _TABLE.clear()
    _GUARD = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class _OsLock:
    """The other processes' side: ``flock`` on POSIX, ``filelock`` (exclusive) elsewhere."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._file = None

    def try_acquire(self, shared: bool) -> bool:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX
            return self._try_filelock()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError:
                os.close(fd)
                raise
            # the file may have been removed (``cache clean``) between the open and the lock:
            # a lock on a file no one else can open guards nothing, so take the new one
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)

    def _try_filelock(self) -> bool:
        from filelock import FileLock, Timeout

        if self._file is None:
            # not thread-local: the holder may release from another thread (a coroutine that
            # moved onto a loop, a worker finishing an operation)
            self._file = FileLock(self.path, thread_local=False)
        try:
            self._file.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fd, self._fd = self._fd, None
            try:
                # explicitly: a forked worker may still have the descriptor open
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        elif self._file is not None:
            self._file.release()


class _Hold:
    """One acquisition: tries, pauses, the waiting notice, then the release."""

    def __init__(self, path: Path | str, what: str, reporter: Reporter | None, wait: bool,
                 timeout: float | None, shared: bool) -> None:
        self.key = os.path.abspath(path)
        self.what = what
        self.reporter = reporter
        self.wait = wait
        self.shared = shared
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.attempts = 0
        self.token = next(_TOKENS)

    def reentrant(self) -> bool:
        """Whether the current operation already holds this lock (then nothing is taken)."""
        mine = {token for key, token in _HELD.get() if key == self.key}
        if not mine:
            return False
        with _GUARD:
            entry = _TABLE.get(self.key)
            if entry is None or not (entry.holders & mine):
                return False  # a stale token: released since (see the module docstring)
            if entry.shared and not self.shared:
                raise RuntimeError(f"a shared hold of `{self.key}` cannot become exclusive")
            return True

    def try_once(self) -> bool:
        """Take the lock if that needs no waiting; True when held."""
        with _GUARD:
            entry = _TABLE.get(self.key)
            if entry is not None:
                if entry.shared and self.shared:
                    entry.holders.add(self.token)  # the process already holds it shared
                    return True
                return False
            os_lock = _OsLock(self.key)
            if not os_lock.try_acquire(self.shared):
                return False
            _TABLE[self.key] = _Entry(self.shared, self.token, os_lock)
        _HELD.set(_HELD.get() | {(self.key, self.token)})
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
            self.reporter.report(Notice(f"Waiting for another operation on {self.what} to finish",
                                        code=WAITING))
        delay = _PAUSES[self.attempts] if self.attempts < len(_PAUSES) else _STEADY
        self.attempts += 1
        return delay

    def release(self) -> None:
        # (the release may run in a copy of the acquiring context, or in one made before the
        # hold: a stale token left elsewhere grants nothing once the table forgets it)
        _HELD.set(_HELD.get() - {(self.key, self.token)})
        with _GUARD:
            entry = _TABLE.get(self.key)
            if entry is None or self.token not in entry.holders:
                return
            entry.holders.discard(self.token)
            if entry.holders:
                return
            del _TABLE[self.key]
            entry.os_lock.release()


@contextlib.asynccontextmanager
async def hold(path: Path | str, *, what: str, reporter: Reporter | None = None, wait: bool = True,
               timeout: float | None = None, shared: bool = False) -> AsyncIterator[None]:
    """``async with hold(lock_file, what="the environment `…`"):`` holds the lock for the block.

    ``what`` names the guarded thing in the waiting notice and the ``Busy`` error. ``shared``
    holders (readers of the cache, say) hold it together, and exclude every other holder.
    Under a running loop the wait never blocks the loop; without one (``engine.loop.run``'s
    loop-less start) it sleeps, since nothing else runs in the thread then.
    """
    lock = _Hold(path, what, reporter, wait, timeout, shared)
    if lock.reentrant():
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
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def hold_sync(path: Path | str, *, what: str, reporter: Reporter | None = None, wait: bool = True,
              timeout: float | None = None, shared: bool = False) -> Iterator[None]:
    """The same lock for synchronous code that runs on a thread of its own (never on a loop's
    thread: it sleeps while it waits)."""
    lock = _Hold(path, what, reporter, wait, timeout, shared)
    if lock.reentrant():
        yield
        return
    while not lock.try_once():
        time.sleep(lock.pause())
    try:
        yield
    finally:
        lock.release()


def is_held(path: Path | str) -> bool:
    """Whether the current operation holds the lock ``path`` (for assertions in the engine)."""
    key = os.path.abspath(path)
    mine = {token for k, token in _HELD.get() if k == key}
    with _GUARD:
        entry = _TABLE.get(key)
        return entry is not None and bool(entry.holders & mine)
