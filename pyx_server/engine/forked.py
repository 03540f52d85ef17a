"""Runs blocking jobs in this process and in forked copies of it at once, where that is safe.

Linking a wheel is thousands of short system calls. Each one lets go of the GIL and takes it
back, so two threads linking at once hand the lock over at every call: on the benchmark
machine two threads link the data-science set no faster than one (39-43 ms against 44-52 ms
on ext4), where two processes take 28-32 ms, and a warm ``pyx pip sync`` went from 176 ms to
157 ms. ``engine.loop.completed`` uses this when nothing else runs in the process: no event
loop, one thread (a progress display's thread, a server's loop, or a test harness's threads
keep the threads), and a platform with ``fork``.

Each copy runs its share and sends back each result, or the exception a job raised, pickled
over a pipe; it then leaves with ``os._exit``, running no clean-up of the parent's. The jobs
must be complete in themselves (an install is one transaction) and their results picklable.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_HEADER = 8  # bytes of a record's length on the pipe


def can_fork() -> bool:
    """Whether forking is safe here: POSIX ``fork``, one thread, and no event loop in this thread."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False
    return True


def shares(items: Sequence[T], weight: Callable[[T], float], processes: int) -> list[list[T]]:
    """``items`` in ``processes`` shares of about equal weight, each heaviest first."""
    split: list[list[T]] = [[] for _ in range(processes)]
    loads = [0.0] * processes
    for item in sorted(items, key=weight, reverse=True):
        lightest = loads.index(min(loads))
        split[lightest].append(item)
        loads[lightest] += weight(item)
    return split


def run_forked(fn: Callable[[T], R], items: Sequence[T], processes: int,
               weight: Callable[[T], float] = lambda _: 1.0) -> Iterator[R]:
    """``fn(item)`` for every item, split between this process and ``processes - 1`` forked
    copies, yielding this process's results as they come, then the copies'.

    Every job runs even when one fails (as with a thread pool); the first failure is raised
    once all have ended. An interruption (``KeyboardInterrupt``; every copy gets the signal)
    stops each process after its current job. A copy that dies without reporting is an
    ``OSError``.
    """
    mine, *theirs = shares(items, weight, max(1, processes))
    children: list[tuple[int, int]] = []
    try:
        for share in theirs:
            if share:
                try:
                    children.append(_fork(fn, share))
                except OSError:  # no process to spare (a limit, memory): this one does the share
                    mine += share
        failure: BaseException | None = None
        for item in mine:
            try:
                result = fn(item)
            except Exception as exc:  # noqa: BLE001 - raised below, after the copies end
                failure = failure or exc
                continue
            yield result
        while children:
            pid, read = children.pop(0)  # from here on its records are this loop's to reap
            for kind, value in _records(pid, read):
                if kind == "result":
                    yield value
                else:
                    failure = failure or value
        if failure is not None:
            raise failure
    finally:
        for pid, read in children:  # left early: the copies still finish their transactions
            for _ in _records(pid, read):
                pass


def _fork(fn: Callable[[T], Any], share: list[T]) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write)
        return pid, read
    # the copy: nothing of the parent's clean-up may run here, whatever happens
    try:
        os.close(read)
        with os.fdopen(write, "wb") as out:
            for item in share:
                stop = False
                try:
                    record: tuple[str, Any] = ("result", fn(item))
                except Exception as exc:  # noqa: BLE001 - sent to the parent
                    record = ("error", exc)
                except BaseException as exc:  # noqa: BLE001 - interrupted: report it and stop
                    record, stop = ("error", exc), True
                try:
                    data = pickle.dumps(record)
                except Exception:  # noqa: BLE001 - an unpicklable result or exception
                    data = pickle.dumps(("error", RuntimeError(f"{record[0]} could not be sent back: {record[1]!r}")))
                out.write(len(data).to_bytes(_HEADER, "little") + data)
                if stop:
                    break
    finally:
        os._exit(0)


def _records(pid: int, read: int) -> Iterator[tuple[str, Any]]:
    """The records a copy sent, then its end (reaped); an early end is an ``OSError`` record."""
    expected = None
    try:
        with os.fdopen(read, "rb") as pipe:
            while header := pipe.read(_HEADER):
                size = int.from_bytes(header, "little")
                data = pipe.read(size)
                if len(header) != _HEADER or len(data) != size:
                    break
                yield pickle.loads(data)
            else:
                expected = True
    finally:
        _, status = os.waitpid(pid, 0)
    if not expected or status != 0:
        yield "error", OSError(f"a forked process ended unexpectedly (status {status})")


class Workers:
    """Forked copies of this process, each running one job at a time: ``run(*args)`` sends the
    arguments to an idle copy, which calls ``fn(*args)``, and returns its result (or raises
    what it raised). Started while nothing else runs (``can_fork``); ``run`` may then be called
    from any thread, one call per copy at a time, while the GIL stays free for the rest of
    the process. ``close`` ends the copies; a copy whose parent dies ends at its next read.
    """

    def __init__(self, fn: Callable[..., Any], count: int) -> None:
        import queue

        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._all: list[tuple[int, Any, Any]] = []
        # Everything alive now is set aside from garbage collection until ``close``: a copy's
        # collections would otherwise write to the header of every object it inherited, and
        # so copy every page of them (cold install: 1.56 s -> 1.49 s, 0.1 s less CPU).
        gc.freeze()
        self._frozen = True
        for _ in range(count):
            jobs_read, jobs_write = os.pipe()
            answers_read, answers_write = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                for fd in (jobs_read, jobs_write, answers_read, answers_write):
                    os.close(fd)
                self.close()
                raise
            if pid == 0:
                try:
                    os.close(jobs_write)
                    os.close(answers_read)
                    for _, jobs, answers in self._all:  # the earlier copies' pipes are not ours
                        jobs.close()
                        answers.close()
                    _serve(fn, os.fdopen(jobs_read, "rb"), os.fdopen(answers_write, "wb"))
                finally:
                    os._exit(0)
            os.close(jobs_read)
            os.close(answers_write)
            worker = (pid, os.fdopen(jobs_write, "wb"), os.fdopen(answers_read, "rb"))
            self._all.append(worker)
            self._idle.put(worker)

    @property
    def count(self) -> int:
        """How many copies run."""
        return len(self._all)

    def run(self, *args: Any, on_event: Callable[[Any], None] | None = None) -> Any:
        """``fn(*args)`` in an idle copy; what the job sends with ``send_event`` meanwhile is
        passed to ``on_event``, in order, as it comes."""
        worker = self._idle.get()
        if worker is None:  # a copy died: the pool is broken (and the next caller learns too)
            self._idle.put(None)
            raise OSError("a worker process ended unexpectedly")
        pid, jobs, answers = worker
        try:
            data = pickle.dumps(args)
            jobs.write(len(data).to_bytes(_HEADER, "little") + data)
            jobs.flush()
            record = _receive(answers)
            while record[0] == "event":
                if on_event is not None:
                    on_event(record[1])
                record = _receive(answers)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self._idle.put(None)
            raise OSError(f"a worker process ended unexpectedly: {exc}") from None
        self._idle.put(worker)
        kind, value = record
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        for pid, jobs, answers in self._all:
            for pipe in (jobs, answers):
                try:
                    pipe.close()
                except OSError:
                    pass
            os.waitpid(pid, 0)  # a copy at work finishes its job first, then sees the pipe closed
        if self._frozen:
            gc.unfreeze()  # the copies are gone: nothing shares those pages any more
            self._frozen = False
        self._all = []


def _send(pipe, record: tuple[str, Any]) -> None:
    try:
        data = pickle.dumps(record)
    except Exception:  # noqa: BLE001 - an unpicklable result or exception
        data = pickle.dumps(("error", RuntimeError(f"{record[0]} could not be sent back: {record[1]!r}")))
    pipe.write(len(data).to_bytes(_HEADER, "little") + data)
    pipe.flush()


def _receive(pipe) -> Any:
    header = pipe.read(_HEADER)
    if len(header) != _HEADER:
        raise EOFError("the pipe closed")
    size = int.from_bytes(header, "little")
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError("the pipe closed mid-message")
    return pickle.loads(data)


#: in a worker copy: the pipe to the parent and the lock of its writers (``send_event``)
_to_parent: tuple[Any, threading.Lock] | None = None


def send_event(event: Any) -> None:
    """From a job running in a ``Workers`` copy: hand ``event`` (picklable) to the parent now,
    for the ``on_event`` of the ``run`` call waiting on the job. Any thread of the job may send."""
    if _to_parent is None:
        raise RuntimeError("send_event is for jobs running in a worker process")
    answers, lock = _to_parent
    with lock:
        _send(answers, ("event", event))


def _serve(fn: Callable[..., Any], jobs, answers) -> None:
    """A copy's loop: a job in, its result or error out, until the parent closes the pipe."""
    global _to_parent
    lock = threading.Lock()
    _to_parent = (answers, lock)
    while True:
        try:
            args = _receive(jobs)
        except EOFError:
            return
        try:
            record: tuple[str, Any] = ("result", fn(*args))
        except Exception as exc:  # noqa: BLE001 - sent to the parent
            record = ("error", exc)
        with lock:
            _send(answers, record)
