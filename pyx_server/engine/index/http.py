"""The engine's one HTTP client: caching by Cache-Control/ETag, retries, credentials, downloads.

Caching (a private cache, in the spirit of uv's ``httpcache``): a cached response is two
files, ``<entry>.body`` and ``<entry>.json`` (the policy: status, content type, ETag,
Last-Modified, ``max-age``, ``no-cache``, when it was fetched, and the body's sha256 so a
torn pair of files reads as a miss). A request then goes one of four ways:

* fresh (``max-age`` not yet reached, no ``no-cache``): answered from the cache, no request;
* stale with a validator: a conditional request (``If-None-Match`` / ``If-Modified-Since``);
  ``304 Not Modified`` refreshes the policy and the cached body is used;
* stale without a validator, or a new URL: a plain request; ``no-store`` answers are not
  stored (and replace nothing);
* offline: whatever is cached is used regardless of age; a miss raises ``OfflineCacheMiss``.

404 and 410 answers are cached like any other, so offline runs that consult several indexes
still know a name is absent from one of them.

Retries: connection errors, dropped connections, timeouts, 429 and 5xx are retried with
exponential backoff (``backoff * 2**attempt``), each retry reported as a ``Retrying`` event;
after the last one ``IndexUnavailable`` (pages) or ``DownloadError`` (files) is raised.

Credentials come from the URL's userinfo (remembered per host, so a file URL on the same host
as a credentialed index gets them too) or from ``~/.netrc`` (``NETRC`` overrides the path).
They are stripped from every URL before it is stored, reported, hashed into a cache key or
put into an exception; requests carry them only as an ``Authorization`` header.
"""

from __future__ import annotations

import errno
import asyncio
import contextlib
import hashlib
import io
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from pyx_server.engine.cache import atomic_write_bytes, atomic_write_json, read_json
from pyx_server.engine.config import redact_url, strip_credentials
from pyx_server.engine.errors import (
    ConfigError,
    DownloadError,
    HashMismatch,
    IndexUnavailable,
    OfflineCacheMiss,
)
from pyx_server.engine.loop import Slots, running_loop
from pyx_server.engine.index.lookups import Lookups
from pyx_server.engine.index.lookups import install as install_lookups
from pyx_server.engine.progress import (
    DownloadFinished,
    DownloadProgress,
    DownloadStarted,
    Reporter,
    Retrying,
)

DEFAULT_CONCURRENCY = 16
#: file bodies streamed at once (each on a thread of its own), at most ``concurrency``. Every
#: 16 KiB piece of a body takes the GIL: on the benchmark machine (2 cores) 16 streams moved
#: 102 MB in 0.70 s with 1.1 s of CPU, 4 streams in 0.38 s with 0.53 s, one in 0.29 s with
#: 0.24 s. Pages, small and many, keep ``concurrency`` connections.
FILE_STREAMS = 4
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_TIMEOUT = 30.0
CHUNK = 64 * 1024
#: downloads report progress in steps of this many bytes (a wheel arrives in 16 KiB pieces)
_PROGRESS_STEP = 256 * 1024
#: files of at least this size (when the index tells it) come as parts of about this size…
RANGED_MIN = 8 << 20
#: …in at most this many parts at once
RANGED_PARTS = 4
#: hash algorithms a download can be verified against, strongest preference first
VERIFIABLE = ("sha256", "sha384", "sha512", "sha224", "sha1", "md5")

_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class HttpResponse:
    """A finished response, possibly answered from the cache."""

    #: the final URL (after redirects), without credentials: relative links resolve against it
    url: str
    status: int
    content_type: str | None
    content: bytes
    from_cache: bool = False
    #: sha256 hex digest of ``content`` when the response went through the HTTP cache (a key
    #: for data derived from the body, such as a parsed index page)
    sha256: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def not_found(self) -> bool:
        return self.status in (404, 410)


@dataclass(frozen=True)
class CachePolicy:
    """What is stored next to a cached body: enough to decide freshness and revalidate."""

    url: str  # redacted, for people reading the cache
    final_url: str  # without credentials
    status: int
    content_type: str | None
    etag: str | None
    last_modified: str | None
    max_age: float | None
    no_cache: bool
    fetched: float
    body_sha256: str

    def fresh(self, now: float) -> bool:
        """Whether the entry may be used without asking the server (RFC 9111 freshness)."""
        return not self.no_cache and self.max_age is not None and now - self.fetched < self.max_age


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """``Cache-Control`` directives as a dict (lower-cased names; ``None`` for bare directives)."""
    directives: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, arg = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return directives


def _number_from_env(env: Mapping[str, str], key: str, default: float, *, integer: bool = False) -> float:
    """A non-negative number from ``env[key]`` (``PYX_HTTP_RETRIES``, ``PYX_HTTP_TIMEOUT``), else ``default``."""
    raw = env.get(key)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"invalid `{key}` value `{raw}`",
            context={"value": raw, "source": key},
            hints=[f"set `{key}` to a {'whole ' if integer else ''}number of {'retries' if integer else 'seconds'}"],
        )
    return value


def concurrency_from_env(env: Mapping[str, str] | None = None) -> int:
    """``PYX_CONCURRENT_DOWNLOADS`` (a positive integer), else the default of 16 connections."""
    env = os.environ if env is None else env
    raw = env.get("PYX_CONCURRENT_DOWNLOADS")
    if not raw:
        return DEFAULT_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"invalid `PYX_CONCURRENT_DOWNLOADS` value `{raw}`",
            context={"value": raw, "source": "PYX_CONCURRENT_DOWNLOADS"},
            hints=["use a positive whole number such as `16`"],
        )
    return value


#: TLS contexts made so far, by what they trust (see ``trust``)
_TRUSTS: dict[tuple[str | None, str | None, str | None], ssl.SSLContext] = {}


def trust(cert: str | None = None, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The TLS context that trusts ``cert`` (pip's ``cert``, ``PIP_CERT``) when configured, else
    httpx's default (which honours ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, then certifi).

    Made once per process and shared by every client: loading a CA bundle costs 20-35 ms, and
    an install opens several clients (pages, then files; forked workers inherit it).
    """
    env = os.environ if env is None else env
    key = (cert, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))
    context = _TRUSTS.get(key)
    if context is None:
        context = _TRUSTS[key] = ssl.create_default_context(cafile=cert) if cert else httpx.create_ssl_context()
    return context


class HttpClient:
    """Async HTTP for the engine; use as ``async with HttpClient(...) as http``.

    ``offline`` answers only from the cache; ``retries``/``backoff`` bound the retry loop
    (tests use a tiny backoff); ``concurrency`` caps simultaneous requests and downloads.
    """

    def __init__(
        self,
        *,
        reporter: Reporter | None = None,
        offline: bool = False,
        cert: str | None = None,
        concurrency: int | None = None,
        retries: int | None = None,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = os.environ if env is None else env
        if retries is None:
            retries = int(_number_from_env(self.env, "PYX_HTTP_RETRIES", DEFAULT_RETRIES, integer=True))
        if timeout is None:
            timeout = _number_from_env(self.env, "PYX_HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        self.reporter = reporter or Reporter()
        self.offline = offline
        self.cert = cert
        self.concurrency = concurrency or concurrency_from_env(self.env)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self._semaphore = asyncio.Semaphore(self.concurrency)
        #: the streams of file bodies: the biggest file waiting goes first (``_body_attempts``)
        self._streams = Slots(min(self.concurrency, FILE_STREAMS))
        self._client: httpx.AsyncClient | None = None
        #: the blocking client that streams file bodies in worker threads (see ``_stream``)
        self._sync_client: httpx.Client | None = None
        self._body_threads: Any = None
        self._tls: ssl.SSLContext | None = None
        #: one name lookup per host for every connection of both clients (``lookups``)
        self._lookups = Lookups()
        self._credentials: dict[str, tuple[str, str]] = {}
        self._netrc: Any = None
        self._netrc_loaded = False

    async def __aenter__(self) -> HttpClient:
        await running_loop()  # requests run on the event loop
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools (the clients are created lazily, so this may be a no-op)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._body_threads is not None:
            self._body_threads.shutdown(wait=True, cancel_futures=True)
            self._body_threads = None
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    # -- credentials -----------------------------------------------------------------

    def remember_credentials(self, url: str) -> str:
        """Keep the userinfo of ``url`` for its host and return the URL without it."""
        parts = urlsplit(url)
        if "@" in parts.netloc:
            userinfo = parts.netloc.rpartition("@")[0]
            user, _, password = userinfo.partition(":")
            self._credentials[_host_key(url)] = (unquote(user), unquote(password))
        return strip_credentials(url)

    def _auth_for(self, url: str) -> httpx.Auth | None:
        found = self._credentials.get(_host_key(url))
        if found is None:
            found = self._netrc_credentials(urlsplit(url).hostname or "")
        return httpx.BasicAuth(*found) if found else None

    def _netrc_credentials(self, host: str) -> tuple[str, str] | None:
        if not self._netrc_loaded:
            self._netrc_loaded = True
            path = self.env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
            if os.path.isfile(path):  # most machines have none: spare the import
                import netrc

                try:
                    self._netrc = netrc.netrc(path)
                except (OSError, netrc.NetrcParseError):
                    self._netrc = None  # as pip does: a netrc we cannot read gives no credentials
        if self._netrc is None or not host:
            return None
        entry = self._netrc.authenticators(host)
        if not entry:
            return None
        login, _account, password = entry
        return (login or "", password or "")

    def _secrets(self) -> list[str]:
        found = [s for pair in self._credentials.values() for s in pair if s]
        return found

    def _scrub(self, text: str) -> str:
        """Remove any credential that slipped into an exception's text (belt and braces)."""
        for secret in self._secrets():
            if len(secret) >= 3:
                text = text.replace(secret, "****")
        return text

    # -- the client --------------------------------------------------------------------

    def _trust(self) -> ssl.SSLContext:
        """The TLS trust both clients share (``trust``)."""
        if self._tls is None:
            self._tls = trust(self.cert, self.env)
        return self._tls

    def _client_options(self) -> dict[str, Any]:
        return {
            "verify": self._trust(),
            "timeout": httpx.Timeout(self.timeout),
            "follow_redirects": True,
            "limits": httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            "headers": {"User-Agent": _user_agent()},
            "trust_env": True,
        }

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_options())
            install_lookups(self._client, self._lookups)
        return self._client

    def _bodies(self) -> tuple[httpx.Client, Any]:
        """The blocking client and the threads that stream file bodies (made on first download)."""
        if self._sync_client is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sync_client = httpx.Client(**self._client_options())
            install_lookups(self._sync_client, self._lookups)
            self._body_threads = ThreadPoolExecutor(max_workers=self._streams.count, thread_name_prefix="pyx-download")
        return self._sync_client, self._body_threads

    async def _sleep_before_retry(self, shown: str, attempt: int, reason: str) -> None:
        delay = self.backoff * (2**attempt)
        self.reporter.report(Retrying(url=shown, attempt=attempt + 1, delay=delay, reason=reason))
        await asyncio.sleep(delay)

    async def _request(self, url: str, headers: Mapping[str, str], shown: str) -> httpx.Response:
        """GET with retries; returns any non-retryable response (the caller judges its status)."""
        auth = self._auth_for(url)
        reason = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._semaphore:
                    response = await self._http().get(url, headers=dict(headers), auth=auth)
            except _RETRY_EXCEPTIONS as exc:
                reason = self._describe(exc)
                if _is_certificate_error(exc):
                    raise _unavailable(shown, reason, certificate=True) from None
            except httpx.HTTPError as exc:
                raise _unavailable(shown, self._describe(exc)) from None
            else:
                if not _retryable_status(response.status_code):
                    return response
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            if attempt < self.retries:
                await self._sleep_before_retry(shown, attempt, reason)
        raise _unavailable(shown, reason, attempts=self.retries + 1)

    async def get_range(self, url: str, start: int | None, end: int | None = None) -> tuple[int, bytes, int | None]:
        """Bytes ``start``..``end`` of ``url`` (``start`` None: the last ``end`` bytes).

        Returns ``(status, content, total size)``: 206 with the slice when the server honours
        ranges, 200 with the whole file when it does not (the caller then has it all).
        """
        real = self.remember_credentials(url)
        shown = redact_url(url)
        if self.offline:
            raise _offline_miss(shown, "a part of the file")
        spec = f"bytes=-{end}" if start is None else f"bytes={start}-{'' if end is None else end}"
        response = await self._request(real, {"Range": spec, "Accept-Encoding": "identity"}, shown)
        if response.status_code not in (200, 206):
            raise _unavailable(shown, f"HTTP {response.status_code} {response.reason_phrase}".strip())
        total = None
        content_range = response.headers.get("content-range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        elif response.status_code == 200:
            total = len(response.content)
        return response.status_code, response.content, total

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return self._scrub(f"{type(exc).__name__}: {text}" if str(exc) else text)

    # -- pages (cached) -------------------------------------------------------------------

    async def get(
        self,
        url: str,
        *,
        cache_entry: Path | None = None,
        accept: str | None = None,
        subject: str | None = None,
    ) -> HttpResponse:
        """Fetch ``url``, through the HTTP cache when ``cache_entry`` (a path without suffix) is given.

        Returns 2xx, 404 and 410 answers as values; 401/403 and other client errors raise
        ``IndexUnavailable`` (with a credentials hint), as do server errors after the retries.
        ``subject`` names what is fetched in an offline miss ("the page of `foo`").
        """
        real = self.remember_credentials(url)
        shown = redact_url(url)
        if urlsplit(real).scheme == "file":
            return _read_file_url(real, shown)
        now = time.time()
        # The body is read only when it can be used: offline, fresh, or kept by a 304. A stale
        # entry with no validator (an index that sends neither ETag nor Last-Modified) is
        # refetched in full anyway, and reading a 2 MB page to throw it away costs time.
        policy_only = _read_policy(cache_entry) if cache_entry is not None else None
        usable = policy_only is not None and (
            self.offline or policy_only.fresh(now) or policy_only.etag or policy_only.last_modified
        )
        cached = _read_entry(cache_entry) if usable else None
        if self.offline:
            if cached is not None:
                return cached[1]
            raise _offline_miss(shown, subject)
        if cached is not None and cached[0].fresh(now):
            return cached[1]
        headers = {"Accept": accept} if accept else {}
        if cached is not None:
            policy = cached[0]
            if policy.etag:
                headers["If-None-Match"] = policy.etag
            if policy.last_modified:
                headers["If-Modified-Since"] = policy.last_modified
        response = await self._request(real, headers, shown)
        final_url = strip_credentials(str(response.url))
        if response.status_code == 304 and cached is not None and cache_entry is not None:
            refreshed = _refresh_policy(cached[0], response, now)
            atomic_write_json(cache_entry.with_name(cache_entry.name + ".json"), asdict(refreshed))
            return cached[1]
        status = response.status_code
        if status in (401, 403):
            raise IndexUnavailable(
                f"`{shown}` refused access (HTTP {status})",
                context={"url": shown, "status": status},
                hints=[
                    "put the credentials in the index URL (`https://user:token@host/…`) "
                    "or in `~/.netrc`",
                ],
            )
        if not (200 <= status < 300 or status in (404, 410)):
            raise _unavailable(shown, f"HTTP {status} {response.reason_phrase}".strip())
        content = response.content
        result = HttpResponse(
            url=final_url,
            status=status,
            content_type=response.headers.get("content-type"),
            content=content,
        )
        if cache_entry is not None:
            directives = parse_cache_control(response.headers.get("cache-control"))
            if "no-store" in directives:
                _remove_entry(cache_entry)
            elif status in (200, 203, 404, 410):
                policy = _new_policy(shown, final_url, response, directives, now, content)
                _store_entry(cache_entry, policy, content, policy_only)
                result = replace(result, sha256=policy.body_sha256)
        return result

    # -- files -----------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        name: str,
        version: str,
        hashes: Mapping[str, str] | None = None,
        size: int | None = None,
    ) -> str:
        """Stream ``url`` into ``dest`` (atomically), verify ``hashes``, return the sha256 hex digest.

        A connection dropped mid-way is retried from the start; progress events never count a
        byte twice. On a hash mismatch the partial file is deleted and ``HashMismatch`` raised.
        """
        real = self.remember_credentials(url)
        shown = redact_url(url)
        filename = unquote(urlsplit(real).path.rpartition("/")[2]) or dest.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}.part")
        try:
            if urlsplit(real).scheme == "file":
                digests, length = await self._copy_local(real, tmp, name, version, hashes)
            else:
                if self.offline:
                    raise _offline_miss(shown, f"the file `{filename}`")
                if size and size >= RANGED_MIN:
                    digests, length = await self._ranges_to_file(real, shown, tmp, name, version, hashes, size, filename)
                else:
                    digests, length = await self._stream(real, shown, tmp, name, version, hashes, size, filename)
            _verify(filename, shown, hashes or {}, digests)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.reporter.report(DownloadFinished(name=name, version=version, bytes=length))
        return digests["sha256"]

    async def download_bytes(
        self,
        url: str,
        *,
        name: str,
        version: str,
        hashes: Mapping[str, str] | None = None,
        size: int | None = None,
    ) -> tuple[bytes | memoryview, str]:
        """Like ``download``, into memory: (content, sha256). For wheels small enough to hold.

        Unpacking from memory spares the disk a temporary file written, read back and deleted
        (on a filesystem mounted with ``discard`` those deletions slow every later file creation).
        """
        real = self.remember_credentials(url)
        shown = redact_url(url)
        filename = unquote(urlsplit(real).path.rpartition("/")[2])
        sink = io.BytesIO()
        if urlsplit(real).scheme == "file":
            source = file_url_to_path(real)
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise DownloadError(f"could not read `{source}`: {exc.strerror or exc}", context={"path": str(source)}) from None
            self.reporter.report(DownloadStarted(name=name, version=version, total_bytes=len(data)))
            hashers = _hashers(hashes)
            for hasher in hashers.values():
                hasher.update(data)
            digests, length = {k: h.hexdigest() for k, h in hashers.items()}, len(data)
        else:
            if self.offline:
                raise _offline_miss(shown, f"the file `{filename}`")
            if size and size >= RANGED_MIN:
                data = await self._ranges(real, shown, name, version, size, filename)
                hashers = _hashers(hashes)
                for hasher in hashers.values():
                    await asyncio.to_thread(hasher.update, data)  # hashlib lets go of the GIL
                digests, length = {k: h.hexdigest() for k, h in hashers.items()}, len(data)
            else:
                digests, length = await self._stream(real, shown, sink, name, version, hashes, size, filename)
                data = sink.getvalue()
        _verify(filename, shown, hashes or {}, digests)
        self.reporter.report(DownloadFinished(name=name, version=version, bytes=length))
        return data, digests["sha256"]

    async def _ranges_to_file(
        self, url: str, shown: str, tmp: Path, name: str, version: str, hashes: Mapping[str, str] | None, size: int,
        filename: str,
    ) -> tuple[dict[str, str], int]:
        """``_ranges`` straight into the file ``tmp``, mapped in memory: the ranges land in the
        page cache, where whoever reads the file next finds them. (digests, length)."""
        import mmap

        with open(tmp, "w+b") as out:
            out.truncate(size)
            mapped = mmap.mmap(out.fileno(), size)
            view = memoryview(mapped)
            data = await self._ranges(url, shown, name, version, size, filename, view=view)
            hashers = _hashers(hashes)
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

    async def _ranges(
        self, url: str, shown: str, name: str, version: str, size: int, filename: str, view: memoryview | None = None
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
        auth = self._auth_for(url)
        stop = threading.Event()
        ranges_served = loop.create_future()

        wants_progress = self.reporter.wants_progress

        def report(event) -> None:
            # each event handed over wakes the loop's thread, which takes the GIL from the bodies
            if wants_progress or not isinstance(event, DownloadProgress):
                loop.call_soon_threadsafe(self.reporter.report, event)

        def served() -> None:
            if not ranges_served.done():
                ranges_served.set_result(True)

        def fetch(client: httpx.Client, start: int, end: int, first: bool) -> tuple[str, Any]:
            """("done", None), ("whole", body) or ("retry", reason) for ``view[start:end]``."""
            headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
            with client.stream("GET", url, auth=auth, headers=headers) as response:
                status = response.status_code
                if _retryable_status(status):
                    return "retry", f"HTTP {status} {response.reason_phrase}".strip()
                if status == 200 and first:  # no ranges here: this answer is the whole file
                    report(DownloadStarted(name=name, version=version, total_bytes=size))
                    chunks, reported, position = [], 0, 0
                    for chunk in response.iter_bytes():
                        if stop.is_set():
                            raise asyncio.CancelledError()
                        chunks.append(chunk)
                        position += len(chunk)
                        if position - reported >= _PROGRESS_STEP:
                            report(DownloadProgress(name=name, advance=position - reported))
                            reported = position
                    report(DownloadProgress(name=name, advance=position - reported))
                    return "whole", b"".join(chunks)
                if status != 206 or not _content_range_is(response, start, end, size):
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
                    if position - reported >= _PROGRESS_STEP:
                        report(DownloadProgress(name=name, advance=position - reported))
                        reported = position
                report(DownloadProgress(name=name, advance=position - reported))
                if position != end:
                    return "retry", f"the range ended at byte {position} of {end}"
                return "done", None

        def part(start: int, end: int, first: bool):
            return self._body_attempts(lambda client: fetch(client, start, end, first), filename, shown, stop, size)

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

    async def _stream(
        self,
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
        auth = self._auth_for(url)
        loop = asyncio.get_running_loop()
        state = {"reported": 0, "started": False}

        wants_progress = self.reporter.wants_progress

        def report(event) -> None:
            # each event handed over wakes the loop's thread, which takes the GIL from the bodies
            if wants_progress or not isinstance(event, DownloadProgress):
                loop.call_soon_threadsafe(self.reporter.report, event)

        def one_attempt(client: httpx.Client, stop) -> tuple[str, Any]:
            """("done", (digests, length)) or ("retry", reason); raises DownloadError."""
            hashers = _hashers(hashes)
            position = 0
            chunks: list[bytes] = []
            # a file's hash is of its bytes as stored: ask for them as they are (as pip does),
            # and decode whatever a server encodes anyway
            with client.stream("GET", url, auth=auth, headers={"Accept-Encoding": "identity"}) as response:
                status = response.status_code
                if _retryable_status(status):
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
                        if position - state["reported"] >= _PROGRESS_STEP:
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
        _, value = await self._body_attempts(lambda client: one_attempt(client, stop), filename, shown, stop, size)
        return value

    async def _body_attempts(self, job, filename: str, shown: str, stop, size: int | None) -> tuple[str, Any]:
        """Run ``job(client)`` on a body thread until it answers something else than
        ``("retry", reason)``: the retry loop of every file download (connection errors,
        dropped bodies and 5xx, with backoff), then ``DownloadError``. A cancelled caller
        sets ``stop``, which the job checks between chunks.

        Each attempt waits for a stream (``_streams``), the largest file first (``size``):
        its unpacking, the longest, can then start while the small ones arrive."""
        loop = asyncio.get_running_loop()
        reason = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._streams.hold(size or 0):
                    client, threads = self._bodies()
                    try:
                        outcome, value = await loop.run_in_executor(threads, job, client)
                    except asyncio.CancelledError:
                        stop.set()
                        raise
                if outcome != "retry":
                    return outcome, value
                reason = value
            except _RETRY_EXCEPTIONS as exc:
                reason = self._describe(exc)
                if _is_certificate_error(exc):
                    raise _download_error(filename, shown, reason) from None
            except httpx.HTTPError as exc:
                raise _download_error(filename, shown, self._describe(exc)) from None
            if attempt < self.retries:
                await self._sleep_before_retry(shown, attempt, reason)
        raise _download_error(filename, shown, reason, attempts=self.retries + 1)

    async def _copy_local(
        self, url: str, tmp: Path, name: str, version: str, hashes: Mapping[str, str] | None
    ) -> tuple[dict[str, str], int]:
        source = file_url_to_path(url)
        try:
            total = source.stat().st_size
            hashers = _hashers(hashes)
            self.reporter.report(DownloadStarted(name=name, version=version, total_bytes=total))
            position = 0
            with open(source, "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    position += len(chunk)
                    if self.reporter.wants_progress:
                        self.reporter.report(DownloadProgress(name=name, advance=len(chunk)))
        except OSError as exc:
            raise DownloadError(
                f"could not read `{source}`: {exc.strerror or exc}",
                context={"path": str(source)},
            ) from None
        return {k: h.hexdigest() for k, h in hashers.items()}, position


# -- helpers ------------------------------------------------------------------------------------


def file_url_to_path(url: str) -> Path:
    """The local path of a ``file://`` URL (percent-decoded)."""
    parts = urlsplit(url)
    path = url2pathname(parts.path)
    if parts.netloc and parts.netloc not in ("localhost",):
        path = f"//{parts.netloc}{path}"
    return Path(path)


def _read_file_url(url: str, shown: str) -> HttpResponse:
    path = file_url_to_path(url)
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return HttpResponse(url=url, status=404, content_type=None, content=b"")
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a name that cannot be a file name is simply not there
            return HttpResponse(url=url, status=404, content_type=None, content=b"")
        raise IndexUnavailable(f"could not read `{shown}`: {exc.strerror or exc}", context={"url": shown}) from None
    content_type = "application/vnd.pypi.simple.v1+json" if path.suffix == ".json" else "text/html"
    return HttpResponse(url=url, status=200, content_type=content_type, content=content)


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{host}:{port}"


def _retryable_status(status: int) -> bool:
    return status == 429 or (500 <= status < 600 and status != 501)


def _is_certificate_error(exc: BaseException) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _unavailable(shown: str, reason: str, *, attempts: int = 1, certificate: bool = False) -> IndexUnavailable:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    hints = ["check the network connection and the index URL"]
    if certificate:
        hints = ["point `PIP_CERT` / `SSL_CERT_FILE` at the CA bundle that signs this server's certificate"]
    hints.append("with `--offline`, pyx uses only what is already cached")
    return IndexUnavailable(
        f"could not fetch `{shown}`{tries}: {reason}",
        context={"url": shown, "reason": reason},
        hints=hints,
    )


def _download_error(filename: str, shown: str, reason: str, *, attempts: int = 1) -> DownloadError:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return DownloadError(
        f"could not download `{filename}`{tries}: {reason}",
        context={"url": shown, "reason": reason},
        hints=["check the network connection; running the command again resumes from the cache"],
    )


def _offline_miss(shown: str, subject: str | None) -> OfflineCacheMiss:
    what = f"{subject} (`{shown}`)" if subject else f"`{shown}`"
    return OfflineCacheMiss(
        f"{what} is not in the cache, and offline mode forbids fetching it",
        context={"url": shown},
        hints=["run the same command once without `--offline` to fill the cache"],
    )


def _content_range_is(response: httpx.Response, start: int, end: int, size: int) -> bool:
    """Whether a 206 answer's ``Content-Range`` is exactly the range asked, of a file of ``size``."""
    return response.headers.get("content-range", "").strip() == f"bytes {start}-{end - 1}/{size}"


def _hashers(expected: Mapping[str, str] | None) -> dict[str, Any]:
    algorithms = {"sha256"} | {a for a in (expected or {}) if a in VERIFIABLE}
    return {a: hashlib.new(a) for a in algorithms}


def _verify(filename: str, shown: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> None:
    """Every expected hash we can compute must match (sha256 first in the message)."""
    for algorithm in VERIFIABLE:
        want = expected.get(algorithm)
        if want is None or algorithm not in actual:
            continue
        if actual[algorithm] != want.lower():
            raise HashMismatch(
                f"hash mismatch for `{filename}`: expected {algorithm} `{want.lower()}`, "
                f"got `{actual[algorithm]}`",
                context={
                    "file": filename,
                    "url": shown,
                    "algorithm": algorithm,
                    "expected": want.lower(),
                    "actual": actual[algorithm],
                },
                hints=[
                    "the file changed on the server or was corrupted in transit; "
                    "if you pinned the hash yourself, check it",
                ],
            )


def _user_agent() -> str:
    from pyx_server import __version__

    return f"pyx/{__version__}"


# -- cache entries ------------------------------------------------------------------------------


def _read_policy(entry: Path) -> CachePolicy | None:
    data = read_json(entry.with_name(entry.name + ".json"))
    if not isinstance(data, dict):
        return None
    try:
        return CachePolicy(**data)
    except TypeError:
        return None


def _read_entry(entry: Path) -> tuple[CachePolicy, HttpResponse] | None:
    data = read_json(entry.with_name(entry.name + ".json"))
    if not isinstance(data, dict):
        return None
    try:
        policy = CachePolicy(**data)
        body = entry.with_name(entry.name + ".body").read_bytes()
    except (TypeError, OSError):
        return None
    if hashlib.sha256(body).hexdigest() != policy.body_sha256:
        return None  # body and policy from different writes: treat as a miss
    response = HttpResponse(
        url=policy.final_url,
        status=policy.status,
        content_type=policy.content_type,
        content=body,
        from_cache=True,
        sha256=policy.body_sha256,
    )
    return policy, response


def _store_entry(entry: Path, policy: CachePolicy, content: bytes, previous: CachePolicy | None) -> None:
    """Store a fetched response, leaving alone the files it would not change.

    An index whose pages carry no validator (no ETag, no Last-Modified) is refetched in full on
    every run, and nearly always answers with the same bytes: comparing them to the stored
    body costs far less than replacing it (each replace also frees the old file's blocks,
    which a filesystem mounted with ``discard`` makes slow). The policy is rewritten only when
    it changed; its fetch time matters only with ``max-age``.
    """
    body = entry.with_name(entry.name + ".body")
    same_body = previous is not None and previous.body_sha256 == policy.body_sha256 and _holds(body, content)
    if not same_body:
        atomic_write_bytes(body, content)
    unchanged = same_body and previous is not None and policy.max_age is None and replace(previous, fetched=policy.fetched) == policy
    if not unchanged:
        atomic_write_json(entry.with_name(entry.name + ".json"), asdict(policy))


def _holds(path: Path, content: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``content``."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != len(content):
                return False
            return f.read() == content
    except OSError:
        return False


def _remove_entry(entry: Path) -> None:
    for suffix in (".json", ".body"):
        entry.with_name(entry.name + suffix).unlink(missing_ok=True)


def _max_age(response: httpx.Response, directives: Mapping[str, str | None]) -> float | None:
    raw = directives.get("max-age")
    if raw is not None:
        try:
            age = float(response.headers.get("age", "0") or 0)
        except ValueError:
            age = 0.0
        try:
            return max(0.0, float(raw) - age)
        except ValueError:
            return None
    expires = response.headers.get("expires")
    if expires:
        try:
            expiry = parsedate_to_datetime(expires).timestamp()
            date = response.headers.get("date")
            origin = parsedate_to_datetime(date).timestamp() if date else time.time()
            return max(0.0, expiry - origin)
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0  # an unparsable Expires means "already expired" (RFC 9111 5.3)
    return None


def _new_policy(
    shown: str,
    final_url: str,
    response: httpx.Response,
    directives: Mapping[str, str | None],
    now: float,
    content: bytes,
) -> CachePolicy:
    return CachePolicy(
        url=shown,
        final_url=final_url,
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        max_age=_max_age(response, directives),
        no_cache="no-cache" in directives,
        fetched=now,
        body_sha256=hashlib.sha256(content).hexdigest(),
    )


def _refresh_policy(old: CachePolicy, response: httpx.Response, now: float) -> CachePolicy:
    """A 304 carries the current caching headers; the body (and its type) stays the cached one."""
    directives = parse_cache_control(response.headers.get("cache-control"))
    has_freshness = "cache-control" in response.headers or "expires" in response.headers
    return CachePolicy(
        url=old.url,
        final_url=old.final_url,
        status=old.status,
        content_type=old.content_type,
        etag=response.headers.get("etag") or old.etag,
        last_modified=response.headers.get("last-modified") or old.last_modified,
        max_age=_max_age(response, directives) if has_freshness else old.max_age,
        no_cache=("no-cache" in directives) if has_freshness else old.no_cache,
        fetched=now,
        body_sha256=old.body_sha256,
    )

