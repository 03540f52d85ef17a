"""File bodies over HTTP: streamed on worker threads, big ones as parallel byte ranges, retried.

Pages go through ``HttpClient.get`` on the event loop; files (wheels, sdists) are large and
few, and take another road, for speed: ``stream`` reads a body on a worker thread with a
blocking client, ``ranges`` brings a big one as a few byte ranges at once, and
``body_attempts`` is the retry loop both share. Events are handed back to the loop's thread,
so reporters never see a worker thread. ``HttpClient.download`` and ``download_bytes`` are
the entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from pyx_server.engine.errors import DownloadError
from pyx_server.engine.index.httperrors import (
    RETRY_EXCEPTIONS,
    content_range_is,
    download_error,
    hashers as new_hashers,
    is_certificate_error,
    retryable_status,
)
from pyx_server.engine.progress import DownloadProgress, DownloadStarted

if TYPE_CHECKING:
    from pyx_server.engine.index.http import HttpClient

CHUNK = 64 * 1024
#: downloads report progress in steps of this many bytes (a wheel arrives in 16 KiB pieces)
PROGRESS_STEP = 256 * 1024
#: files of at least this size (when the index tells it) come as parts of about this size…
RANGED_MIN = 8 << 20
#: …in at most this many parts at once
RANGED_PARTS = 4


async def to_file(
    http: HttpClient, url: str, shown: str, tmp: Path, name: str, version: str, hashes: Mapping[str, str] | None,
    size: int | None, filename: str,
) -> tuple[dict[str, str], int]:
    """Download ``url`` into the file ``tmp``, in ranges when it is big: (digests, length)."""
    if size and size >= RANGED_MIN:
        return await ranges_to_file(http, url, shown, tmp, name, version, hashes, size, filename)
    return await stream(http, url, shown, tmp, name, version, hashes, size, filename)


async def to_memory(
    http: HttpClient, url: str, shown: str, name: str, version: str, hashes: Mapping[str, str] | None,
    size: int | None, filename: str,
) -> tuple[bytes | memoryview, dict[str, str], int]:
    """Download ``url`` into memory, in ranges when it is big: (content, digests, length)."""
    if size and size >= RANGED_MIN:
        data = await ranges(http, url, shown, name, version, size, filename)
        hashers = new_hashers(hashes)
        for hasher in hashers.values():
            await asyncio.to_thread(hasher.update, data)  # hashlib lets go of the GIL
        return data, {k: h.hexdigest() for k, h in hashers.items()}, len(data)
    sink = io.BytesIO()
    digests, length = await stream(http, url, shown, sink, name, version, hashes, size, filename)
    return sink.getvalue(), digests, length


async def ranges_to_file(
    http: HttpClient, url: str, shown: str, tmp: Path, name: str, version: str, hashes: Mapping[str, str] | None, size: int,
    filename: str,
) -> tuple[dict[str, str], int]:
    """``_ranges`` straight into the file ``tmp``, mapped in memory: the ranges land in the
    page cache, where whoever reads the file next finds them. (digests, length)."""
    import mmap

    with open(tmp, "w+b") as out:
        out.truncate(size)
        mapped = mmap.mmap(out.fileno(), size)
        view = memoryview(mapped)
        data = await ranges(http, url, shown, name, version, size, filename, view=view)
        hashers = new_hashers(hashes)
        for hasher in hashers.values():
            await asyncio.to_thread(hasher.update, data)  # hashlib lets go of the GIL
        length = len(data)
        view.release()  # every range has ended: nothing else holds the map
        mapped.close()
        if not isinstance(data, memoryview):  # no ranges here: the whole body came as one answer
            out.seek(0)
            out.write(data)
            out.truncate(length)
        return {k: h.hexdigest() for k, h in hashers.items()}, length


async def ranges(
    http: HttpClient, url: str, shown: str, name: str, version: str, size: int, filename: str, view: memoryview | None = None
) -> memoryview | bytes:
    """Download a big file as a few byte ranges at once, into one buffer (``view``, when
    given: ``size`` writable bytes, a file mapped in memory, say).

    One connection here carries ~35 MB/s, so scipy's 33 MB wheel took a second alone and
    its unpacking, the longest, started last; four ranges bring it in a quarter of that.
    The first range goes alone until its answer shows the server serves ranges; a server
    that answers it with the whole file (200) has sent the body, which is then used as is.
    The caller hashes the result.

    The buffer is an anonymous memory map: its pages are zeroed by the kernel as the ranges
    arrive, on the threads that receive them. ``bytearray(size)`` zeroed them all at once
    on the event loop's thread, with the GIL held: 0.2 s of a cold data-science install.
    """
    import mmap
    import threading

    parts = min(RANGED_PARTS, -(-size // RANGED_MIN))
    step = -(-size // parts)
    if view is None:
        view = memoryview(mmap.mmap(-1, size))
    loop = asyncio.get_running_loop()
    auth = http.credentials.auth_for(url)
    stop = threading.Event()
    ranges_served = loop.create_future()

    wants_progress = http.reporter.wants_progress

    def report(event) -> None:
        # each event handed over wakes the loop's thread, which takes the GIL from the bodies
        if wants_progress or not isinstance(event, DownloadProgress):
            loop.call_soon_threadsafe(http.reporter.report, event)

    def served() -> None:
        if not ranges_served.done():
            ranges_served.set_result(True)

    def fetch(client: httpx.Client, start: int, end: int, first: bool) -> tuple[str, Any]:
        """("done", None), ("whole", body) or ("retry", reason) for ``view[start:end]``."""
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        with client.stream("GET", url, auth=auth, headers=headers) as response:
            status = response.status_code
            if retryable_status(status):
                return "retry", f"HTTP {status} {response.reason_phrase}".strip()
            if status == 200 and first:  # no ranges here: this answer is the whole file
                report(DownloadStarted(name=name, version=version, total_bytes=size))
                chunks, reported, position = [], 0, 0
                for chunk in response.iter_bytes():
                    if stop.is_set():
                        raise asyncio.CancelledError()
                    chunks.append(chunk)
                    position += len(chunk)
                    if position - reported >= PROGRESS_STEP:
                        report(DownloadProgress(name=name, advance=position - reported))
                        reported = position
                report(DownloadProgress(name=name, advance=position - reported))
                return "whole", b"".join(chunks)
            if status != 206 or not content_range_is(response, start, end, size):
                total = response.headers.get("content-range", "").rpartition("/")[2]
                if status == 206 and total.isdigit() and int(total) != size:
                    raise DownloadError(
                        f"could not download `{filename}`: it is {total} bytes, not the {size} the index lists",
                        context={"url": shown},
                        hints=["the index may have changed; run again so its pages are read anew"],
                    )
                raise DownloadError(
                    f"could not download `{filename}`: the index answered a byte range with HTTP {status}",
                    context={"url": shown, "status": status},
                )
            if first:
                report(DownloadStarted(name=name, version=version, total_bytes=size))
                loop.call_soon_threadsafe(served)
            position, reported = start, start
            for chunk in response.iter_raw():
                if stop.is_set():
                    raise asyncio.CancelledError()
                following = position + len(chunk)
                if following > end:
                    return "retry", "the server sent more than the range asked"
                view[position:following] = chunk
                position = following
                if position - reported >= PROGRESS_STEP:
                    report(DownloadProgress(name=name, advance=position - reported))
                    reported = position
            report(DownloadProgress(name=name, advance=position - reported))
            if position != end:
                return "retry", f"the range ended at byte {position} of {end}"
            return "done", None

    def part(start: int, end: int, first: bool):
        return body_attempts(http, lambda client: fetch(client, start, end, first), filename, shown, stop, size)

    tasks = [asyncio.ensure_future(part(0, min(size, step), True))]
    try:
        await asyncio.wait([tasks[0], ranges_served], return_when=asyncio.FIRST_COMPLETED)
        if ranges_served.done():
            tasks += [asyncio.ensure_future(part(i * step, min(size, (i + 1) * step), False)) for i in range(1, parts)]
        outcomes = await asyncio.gather(*tasks)
    except BaseException:
        stop.set()
        for task in tasks:
            task.cancel()
        raise
    finally:
        ranges_served.cancel()
    if outcomes[0][0] == "whole":
        return outcomes[0][1]
    return view


async def stream(
    http: HttpClient,
    url: str,
    shown: str,
    tmp: Path | io.BytesIO,
    name: str,
    version: str,
    hashes: Mapping[str, str] | None,
    size: int | None,
    filename: str,
) -> tuple[dict[str, str], int]:
    """Download ``url`` into the file ``tmp`` (or the in-memory sink), with retries.

    The body is streamed by a worker thread with a blocking client, not on the event
    loop: a wheel arrives as thousands of 16 KiB TLS records, and each one taken through
    the async stack (asyncio, anyio, httpcore) cost ~140 µs of the loop thread's time,
    0.9 s of a cold data-science install, where a blocking read costs a few µs and lets
    go of the GIL while it waits (hashing too). Pages stay on the async client: they are
    small and many. Events are handed back to the loop, so reporters never see a thread.
    """
    auth = http.credentials.auth_for(url)
    loop = asyncio.get_running_loop()
    state = {"reported": 0, "started": False}

    wants_progress = http.reporter.wants_progress

    def report(event) -> None:
        # each event handed over wakes the loop's thread, which takes the GIL from the bodies
        if wants_progress or not isinstance(event, DownloadProgress):
            loop.call_soon_threadsafe(http.reporter.report, event)

    def one_attempt(client: httpx.Client, stop) -> tuple[str, Any]:
        """("done", (digests, length)) or ("retry", reason); raises DownloadError."""
        hashers = new_hashers(hashes)
        position = 0
        chunks: list[bytes] = []
        # a file's hash is of its bytes as stored: ask for them as they are (as pip does),
        # and decode whatever a server encodes anyway
        with client.stream("GET", url, auth=auth, headers={"Accept-Encoding": "identity"}) as response:
            status = response.status_code
            if retryable_status(status):
                return "retry", f"HTTP {status} {response.reason_phrase}".strip()
            if status != 200:
                raise DownloadError(
                    f"could not download `{filename}`: HTTP {status}",
                    context={"url": shown, "status": status},
                    hints=(
                        ["check the credentials for this host (URL or `~/.netrc`)"]
                        if status in (401, 403)
                        else ["the index may no longer have this file; run again so the index pages are re-read"]
                    ),
                )
            if not state["started"]:
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else size
                report(DownloadStarted(name=name, version=version, total_bytes=total))
                state["started"] = True
            with open(tmp, "wb") if not isinstance(tmp, io.BytesIO) else contextlib.nullcontext() as out:
                write = out.write if out is not None else chunks.append
                for chunk in response.iter_bytes():
                    if stop.is_set():
                        raise asyncio.CancelledError()
                    write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    position += len(chunk)
                    if position - state["reported"] >= PROGRESS_STEP:
                        report(DownloadProgress(name=name, advance=position - state["reported"]))
                        state["reported"] = position
        if position > state["reported"]:
            report(DownloadProgress(name=name, advance=position - state["reported"]))
            state["reported"] = position
        if isinstance(tmp, io.BytesIO):
            tmp.seek(0)
            tmp.truncate()
            tmp.write(b"".join(chunks))
        return "done", ({k: h.hexdigest() for k, h in hashers.items()}, position)

    import threading

    stop = threading.Event()
    _, value = await body_attempts(http, lambda client: one_attempt(client, stop), filename, shown, stop, size)
    return value


async def body_attempts(http: HttpClient, job, filename: str, shown: str, stop, size: int | None) -> tuple[str, Any]:
    """Run ``job(client)`` on a body thread until it answers something else than
    ``("retry", reason)``: the retry loop of every file download (connection errors,
    dropped bodies and 5xx, with backoff), then ``DownloadError``. A cancelled caller
    sets ``stop``, which the job checks between chunks.

    Each attempt waits for a stream (``http.streams``), the largest file first (``size``):
    its unpacking, the longest, can then start while the small ones arrive."""
    loop = asyncio.get_running_loop()
    reason = ""
    for attempt in range(http.retries + 1):
        try:
            async with http.streams.hold(size or 0):
                client, threads = http.body_client()
                try:
                    outcome, value = await loop.run_in_executor(threads, job, client)
                except asyncio.CancelledError:
                    stop.set()
                    raise
            if outcome != "retry":
                return outcome, value
            reason = value
        except RETRY_EXCEPTIONS as exc:
            reason = http.describe(exc)
            if is_certificate_error(exc):
                raise download_error(filename, shown, reason) from None
        except httpx.HTTPError as exc:
            raise download_error(filename, shown, http.describe(exc)) from None
        if attempt < http.retries:
            await http.sleep_before_retry(shown, attempt, reason)
    raise download_error(filename, shown, reason, attempts=http.retries + 1)


async def copy_local(
    http: HttpClient, source: Path, tmp: Path, name: str, version: str, hashes: Mapping[str, str] | None
) -> tuple[dict[str, str], int]:
    """Copy the local file ``source`` into ``tmp`` as a download would: hashed, with progress."""
    try:
        total = source.stat().st_size
        hashers = new_hashers(hashes)
        http.reporter.report(DownloadStarted(name=name, version=version, total_bytes=total))
        position = 0
        with open(source, "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
                position += len(chunk)
                if http.reporter.wants_progress:
                    http.reporter.report(DownloadProgress(name=name, advance=len(chunk)))
    except OSError as exc:
        raise DownloadError(
            f"could not read `{source}`: {exc.strerror or exc}",
            context={"path": str(source)},
        ) from None
    return {k: h.hexdigest() for k, h in hashers.items()}, position

