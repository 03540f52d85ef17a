"""Fetching wheels into the cache: download, check the hashes, unpack (on threads, or in forked
worker processes with a GIL each), and the cache's pointers from a wheel's source to its entry.
Only the cache changes here, and its entries are whole or absent."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from pyx_server.engine.cache import Bucket, Cache, WheelPointer, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import HashMismatch, InstallError
from pyx_server.engine.install import plan as planning
from pyx_server.engine.install.choose import _direct_file
from pyx_server.engine.progress import Reporter


def _source_key(source: planning.WheelSource) -> str:
    """Where ``wheels-v1`` files the pointer: by index, local path, or URL of the wheel."""
    if source.file is not None:
        return "index-" + digest(source.file.index)
    if source.path is not None:
        return "path-" + digest(str(source.path))
    return "url-" + digest(redact_url(source.url.split("#")[0]))


def _remember(cache: Cache, source: planning.WheelSource, sha256: str) -> None:
    """Record which archive holds ``source`` (so pins find it without the index next time)."""
    st = source.path.stat() if source.path is not None else None
    cache.write_pointer(
        _source_key(source),
        source.name,
        WheelPointer(
            filename=source.filename,
            sha256=sha256,
            url=redact_url(source.url),
            size=st.st_size if st else None,
            mtime_ns=st.st_mtime_ns if st else None,
        ),
    )


def _cached_archive(cache: Cache, source: planning.WheelSource) -> Path | None:
    """The unpacked wheel for ``source`` if the cache has it; checks the user's hashes too."""
    if source.sha256:
        archive = cache.archive(source.sha256)
        if archive:
            return archive
    pointer = cache.read_pointer(_source_key(source), source.name, source.filename)
    if pointer is None:
        return None
    if source.sha256 and pointer.sha256 != source.sha256:
        return None
    if source.path is not None:
        try:
            st = source.path.stat()
        except OSError:
            return None
        if st.st_mtime_ns != pointer.mtime_ns or st.st_size != pointer.size:
            return None
    if source.allowed_hashes and pointer.sha256 not in source.allowed_hashes.get("sha256", ()):
        if "sha256" in source.allowed_hashes:
            return None
    return cache.archive(pointer.sha256)


class _Fetcher:
    """Brings wheels into the cache: downloaded, checked and unpacked (in ``unpackers``' forked
    workers when they run, else on threads).

    ``soon(source)`` starts a wheel as soon as it is chosen, while the other index pages are
    still being read: the first downloads then overlap the slowest pages (numpy's and scipy's
    are megabytes), and their connections are open by the time the rest come. ``fetch(items)``
    waits for those and starts the others; ``close()`` stops whatever is left (on an error,
    or for a wheel the plan turned out not to need). The environment is not touched here,
    only the cache, whose entries are whole or absent.
    """

    def __init__(self, index: IndexSettings, cache: Cache, reporter: Reporter, unpackers: _Unpackers) -> None:
        self.index = index
        self.cache = cache
        self.reporter = reporter
        self.unpackers = unpackers
        self._tasks: dict[str, Any] = {}
        self._client = None
        self._unpacking: _Unpacking | None = None
        self._budget: _ByteBudget | None = None

    def soon(self, source: planning.WheelSource) -> None:
        """Start fetching ``source`` now, unless it is cached already (call under the running loop).

        Only when worker processes fetch: on threads the downloads would take the GIL from the
        page parsing they are meant to overlap (measured: no faster)."""
        if self.unpackers.workers is None or source.file is None or _key(source) in self._tasks:
            return
        if _cached_archive(self.cache, source) is not None:
            return
        import asyncio

        self._tasks[_key(source)] = asyncio.get_running_loop().create_task(self._one(source))

    def started(self, source: planning.WheelSource) -> bool:
        """Whether ``soon`` started fetching ``source``."""
        return _key(source) in self._tasks

    async def fetch(self, items: Sequence[planning.PlannedWheel]) -> dict[NormalizedName, Path]:
        """Every wheel of ``items`` in the cache: {name: unpacked entry}."""
        import asyncio

        from pyx_server.engine.loop import running_loop

        await running_loop()
        # the largest first: their unpacking, the longest, starts while the rest still download
        for item in sorted(items, key=lambda i: -(getattr(i.source.file, "size", None) or 0)):
            if _key(item.source) not in self._tasks:
                self._tasks[_key(item.source)] = asyncio.get_running_loop().create_task(self._one(item.source))
        tasks = [self._tasks[_key(item.source)] for item in items]
        try:
            return dict(await asyncio.gather(*tasks))
        finally:
            await self._stop(tasks)

    async def close(self) -> None:
        """Stop what is still running (nothing is left half-written), close the connections."""
        try:
            await self._stop(list(self._tasks.values()))
        finally:
            if self._client is not None:
                await self._client.aclose()
            if self._unpacking is not None:
                self._unpacking.pool.shutdown(wait=True)

    @staticmethod
    async def _stop(tasks) -> None:
        if not tasks:
            return  # nothing started: maybe no loop either (a warm install)
        import asyncio

        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each cleans up after itself

    async def _one(self, source: planning.WheelSource) -> tuple[NormalizedName, Path]:
        import asyncio

        from pyx_server.engine.install.wheel import unpack_wheel

        client, unpacker, budget = self._tools()
        cache = self.cache
        processes = self.unpackers.workers
        file = source.file if source.file is not None else _direct_file(source)
        size = getattr(file, "size", None)
        if processes is not None and (source.path is None or source.file is not None):
            # a worker process downloads it, checks it and unpacks it, with a GIL of its own;
            # its events come back as they happen, to be reported from the loop's thread
            import functools

            loop = asyncio.get_running_loop()
            run = functools.partial(processes.run, on_event=lambda e: loop.call_soon_threadsafe(self.reporter.report, e))
            archive, sha256 = await unpacker.run(
                size or 0, run, "fetch", str(cache.root), self.index, source, os.getpid(), self.reporter.wants_progress
            )
            archive = Path(archive)
        elif processes is None and source.path is None and size is not None and size <= _IN_MEMORY_MAX:
            # small enough: download into memory and unpack from there (no temporary file)
            async with budget.hold(size):
                data, sha256 = await client.download_bytes(file)
                _verify_user_hashes(source, data, sha256)
                archive = await unpacker.run(
                    len(data), _store_and_scan, cache, sha256, lambda dest: unpack_wheel(data, dest, label=source.filename)
                )
        else:
            with cache.temp_dir("download-") as tmp:
                wheel_path = tmp / source.filename
                if source.path is not None and source.file is None:
                    # a local wheel: unpack straight from where it is
                    wheel_path = source.path
                    sha256 = await asyncio.to_thread(_sha256_file, wheel_path)
                else:
                    sha256 = await client.download(file, wheel_path)
                _verify_user_hashes(source, wheel_path, sha256)
                if processes is not None:
                    archive = Path(await unpacker.run(wheel_path.stat().st_size, processes.run, "unpack", str(cache.root),
                                                      sha256, str(wheel_path), source.filename, os.getpid()))
                else:
                    archive = await unpacker.run(
                        wheel_path.stat().st_size, _store_and_scan, cache, sha256, lambda dest: unpack_wheel(wheel_path, dest)
                    )
        _remember(cache, source, sha256)
        return source.name, archive

    def _tools(self):
        """The index client, the unpacking threads and the memory budget (made on first use)."""
        if self._client is None:
            from concurrent.futures import ThreadPoolExecutor

            from pyx_server.engine.index.client import IndexClient

            self._client = IndexClient(self.index, self.cache, self.reporter)
            # Unpacking is zlib + file creation, which release the GIL: one thread per core keeps
            # the cores busy without starving the event loop that is still receiving downloads.
            # With worker processes, one thread waits on each.
            processes = self.unpackers.workers
            workers = processes.count if processes is not None else max(1, os.cpu_count() or 1)
            self._unpacking = _Unpacking(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pyx-unpack"), workers)
            self._budget = _ByteBudget(_MEMORY_BUDGET)
        return self._client, self._unpacking, self._budget


def _key(source: planning.WheelSource) -> str:
    return source.url or str(source.path)


class _Unpacking:
    """Runs blocking jobs on the threads of ``pool``, ``slots`` at once, the largest waiting
    job first.

    Wheels arrive in the order their downloads end: small ones first, the big ones (scipy,
    numpy) last. First come, first served would leave the biggest unpack for the end, alone
    on one core; taking the largest waiting one whenever a thread frees up starts it as soon
    as possible.
    """

    def __init__(self, pool, slots: int) -> None:
        from pyx_server.engine.loop import Slots

        self.pool = pool
        self._slots = Slots(slots)

    async def run(self, size: int, fn, *args):
        import asyncio

        async with self._slots.hold(size):
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


class _Unpackers:
    """Forked processes that download and unpack wheels (``forked.Workers``, jobs of
    ``_worker_job``), started by ``start`` while the process is still alone (before an index is
    asked: the HTTP stack starts threads), when it is (``forked.can_fork``); else ``workers``
    stays None and threads do the work.

    On threads, unpacking shares the GIL with the event loop, the page parsing and the
    download threads: a cold install's unpacking ran two to twenty times slower than alone.
    A terminal's progress display stops its redrawing thread while the copies are forked
    (``Reporter.no_threads``).
    """

    def __init__(self, enabled: bool, index: IndexSettings | None = None, reporter: Reporter | None = None) -> None:
        self.enabled = enabled
        self.index = index
        self.reporter = reporter or Reporter()
        self.workers = None

    def start(self) -> None:
        cores = os.cpu_count() or 1
        # one more than the cores: a worker waiting for its download's first bytes leaves its core to another
        count = min(cores + 1, _MAX_WORKERS)
        if self.enabled and self.workers is None and cores > 1:
            with self.reporter.no_threads():  # a terminal's progress display stops redrawing meanwhile
                self._fork(count)
        self.enabled = False  # once: a later call finds threads running

    def _fork(self, count: int) -> None:
        from pyx_server.engine import forked

        if forked.can_fork():
            # What the workers use is imported (and the TLS trust loaded) before the fork, so
            # that each copy starts ready instead of importing it again: the parent needs all
            # of it right after anyway.
            import email.parser  # noqa: F401  (METADATA, WHEEL)
            import zipfile  # noqa: F401

            import fcntl  # noqa: F401  (the cache's locks: engine.locks)

            from pyx_server.engine.index import client as index  # noqa: F401
            from pyx_server.engine.index import http
            from pyx_server.engine.install import contents, members, wheel  # noqa: F401

            if self.index is not None:
                http.trust(self.index.cert)
            try:
                self.workers = forked.Workers(_worker_job, count)
            except OSError:
                self.workers = None  # no process to spare: threads unpack

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None


#: worker processes at most (``_Unpackers``)
_MAX_WORKERS = 4


def _worker_job(kind: str, *args):
    """What a forked worker runs: ``"fetch"`` (``_fetch_in_worker``) or ``"unpack"`` (``_unpack_in_worker``)."""
    return _fetch_in_worker(*args) if kind == "fetch" else _unpack_in_worker(*args)


def _unpack_in_worker(root: str, sha256: str, wheel: str, label: str, parent: int) -> str:
    """``_store_and_scan`` in a forked worker: the entry is committed only while the process
    that asked is alive (a killed pyx leaves no entry behind, as an unpacking thread would)."""
    return str(_store_and_scan(Cache(root), sha256, _populate(Path(wheel), label, parent)))


def _populate(wheel, label: str, parent: int):
    """Fills a cache entry with ``wheel`` (a path or the bytes), in a worker: refused when the
    pyx that asked for it (``parent``) is gone meanwhile."""
    from pyx_server.engine.install.wheel import unpack_wheel

    def populate(dest: Path) -> None:
        unpack_wheel(wheel, dest, label=label)
        if os.getppid() != parent:
            raise InstallError(f"pyx stopped while `{label}` was being unpacked")

    return populate


#: the worker's own event loop and index client, kept from job to job (connections stay open)
_worker_client = None


class _ToParent(Reporter):
    """A worker's reporter: every event goes to the parent as it happens (``forked.send_event``)."""

    def __init__(self, wants_progress: bool) -> None:
        self.wants_progress = wants_progress

    def report(self, event) -> None:
        from pyx_server.engine import forked

        forked.send_event(event)


def _fetch_in_worker(root: str, index: IndexSettings, source: planning.WheelSource, parent: int,
                     wants_progress: bool = True) -> tuple[str, str]:
    """In a forked worker: download ``source`` from its index, check its hashes, unpack it into
    the cache. Returns (entry, sha256); its events go to the parent as they happen
    (``DownloadProgress`` only when ``wants_progress``).

    The worker downloads with a GIL of its own: in the parent, download threads and the page
    parsing took it from each other (each 16 KiB piece of a body takes it).
    """
    global _worker_client
    import asyncio

    cache = Cache(root)
    if _worker_client is None:
        from pyx_server.engine.index.client import IndexClient

        _worker_client = (asyncio.new_event_loop(), IndexClient(index, cache))
    loop, client = _worker_client
    client.reporter = client.http.reporter = _ToParent(wants_progress)
    file = source.file if source.file is not None else _direct_file(source)
    size = getattr(file, "size", None)
    if size is not None and size <= _IN_MEMORY_MAX:
        # into memory and unpacked from there: no temporary file written, read back and deleted
        data, sha256 = loop.run_until_complete(client.download_bytes(file))
        _verify_user_hashes(source, data, sha256)
        archive = _store_and_scan(cache, sha256, _populate(data, source.filename, parent))
    else:
        with cache.temp_dir("download-") as tmp:
            wheel_path = tmp / source.filename
            sha256 = loop.run_until_complete(client.download(file, wheel_path))
            _verify_user_hashes(source, wheel_path, sha256)
            archive = _store_and_scan(cache, sha256, _populate(wheel_path, source.filename, parent))
    return str(archive), sha256


def _store_and_scan(cache: Cache, sha256: str, populate) -> Path:
    """Unpack into the cache and read what the entry holds (``contents``), in the unpacking
    thread: the install that follows then finds both ready."""
    from pyx_server.engine.install.contents import cached_contents

    archive = cache.store_archive(sha256, populate)
    cached_contents(archive, cache.bucket(Bucket.CONTENTS))
    return archive


#: wheels up to this size are downloaded into memory; bigger ones (torch: gigabytes) to a file
_IN_MEMORY_MAX = 64 << 20
#: at most this many bytes of wheels held in memory at once
_MEMORY_BUDGET = 256 << 20


class _ByteBudget:
    """An async limit on bytes held at once (a semaphore counted in bytes)."""

    def __init__(self, limit: int) -> None:
        import asyncio

        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, amount: int):
        amount = min(amount, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + amount <= self.limit)
            self.used += amount
        try:
            yield
        finally:
            async with self._changed:
                self.used -= amount
                self._changed.notify_all()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_user_hashes(source: planning.WheelSource, wheel: Path | bytes | bytearray, sha256: str) -> None:
    allowed = source.allowed_hashes
    if not allowed:
        return
    if "sha256" in allowed:
        if sha256 in allowed["sha256"]:
            return
        actual = f"sha256:{sha256}"
    else:
        algo = next(iter(allowed))
        h = hashlib.new(algo)
        h.update(wheel.read_bytes() if isinstance(wheel, Path) else wheel)
        if h.hexdigest() in allowed[algo]:
            return
        actual = f"{algo}:{h.hexdigest()}"
    expected = ", ".join(f"{a}:{d}" for a, ds in allowed.items() for d in ds)
    raise HashMismatch(
        f"hash mismatch for `{source.filename}`: expected `{expected}`, got `{actual}`",
        context={"expected": expected, "actual": actual},
        hints=["if the file changed on purpose, update the `--hash` in your requirements"],
    )
