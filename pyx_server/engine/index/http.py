"""The engine's one HTTP client: index pages through the HTTP cache, files, byte ranges.

``HttpClient`` is the one place the engine talks HTTP; each of its jobs has a module of its own:

* ``httpcache``    the caching rules (Cache-Control / ETag / Last-Modified; pure), and
  ``cacheentry``   the cached responses on disk;
* ``credentials``  URL userinfo and ``~/.netrc``, scrubbed from everything shown;
* ``httperrors``   what is retried, the errors raised, hash verification (pure);
* ``httpsettings`` limits, retries and timeouts from the environment; the shared TLS trust;
* ``bodies``       file bodies streamed on worker threads, big ones as parallel byte ranges.

Pages (small, many) go through ``get`` on the event loop; files through ``download`` and
``download_bytes``.
"""

from __future__ import annotations

import errno
import asyncio
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from pyx_server.engine.config import redact_url, strip_credentials
from pyx_server.engine.errors import DownloadError, IndexUnavailable
from pyx_server.engine.index import bodies
from pyx_server.engine.index.cacheentry import read_entry, read_policy, remove_entry, store_entry, write_policy
from pyx_server.engine.index.credentials import Credentials
from pyx_server.engine.index.httpcache import CachePolicy, HttpResponse, new_policy, parse_cache_control, refresh_policy
from pyx_server.engine.index.httperrors import (
    RETRY_EXCEPTIONS,
    hashers,
    is_certificate_error,
    offline_miss,
    retryable_status,
    unavailable,
    verify,
)
from pyx_server.engine.index.httpsettings import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    FILE_STREAMS,
    concurrency_from_env,
    number_from_env,
    trust,
    user_agent,
)
from pyx_server.engine.index.lookups import Lookups
from pyx_server.engine.index.lookups import install as install_lookups
from pyx_server.engine.loop import Slots, running_loop
from pyx_server.engine.progress import DownloadFinished, DownloadStarted, Reporter, Retrying

#: the names other modules take from here: the client, and the settings and response types
#: that its callers name (they live with their job, in the modules above)
__all__ = [
    "DEFAULT_BACKOFF",
    "FILE_STREAMS",
    "CachePolicy",
    "HttpClient",
    "HttpResponse",
    "concurrency_from_env",
    "file_url_to_path",
    "parse_cache_control",
    "trust",
]


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
            retries = int(number_from_env(self.env, "PYX_HTTP_RETRIES", DEFAULT_RETRIES, integer=True))
        if timeout is None:
            timeout = number_from_env(self.env, "PYX_HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        self.reporter = reporter or Reporter()
        self.offline = offline
        self.cert = cert
        self.concurrency = concurrency or concurrency_from_env(self.env)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self._semaphore = asyncio.Semaphore(self.concurrency)
        #: the streams of file bodies: the biggest file waiting goes first (``bodies.body_attempts``)
        self.streams = Slots(min(self.concurrency, FILE_STREAMS))
        self._client: httpx.AsyncClient | None = None
        #: the blocking client that streams file bodies in worker threads (see ``bodies.stream``)
        self._sync_client: httpx.Client | None = None
        self._body_threads: Any = None
        self._tls: ssl.SSLContext | None = None
        #: one name lookup per host for every connection of both clients (``lookups``)
        self._lookups = Lookups()
        self.credentials = Credentials(self.env)

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
        return self.credentials.remember(url)

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
            "headers": {"User-Agent": user_agent()},
            "trust_env": True,
        }

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_options())
            install_lookups(self._client, self._lookups)
        return self._client

    def body_client(self) -> tuple[httpx.Client, Any]:
        """The blocking client and the threads that stream file bodies (made on first download)."""
        if self._sync_client is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sync_client = httpx.Client(**self._client_options())
            install_lookups(self._sync_client, self._lookups)
            self._body_threads = ThreadPoolExecutor(max_workers=self.streams.count, thread_name_prefix="pyx-download")
        return self._sync_client, self._body_threads

    async def sleep_before_retry(self, shown: str, attempt: int, reason: str) -> None:
        """Report a ``Retrying`` event and wait the backoff of ``attempt``."""
        delay = self.backoff * (2**attempt)
        self.reporter.report(Retrying(url=shown, attempt=attempt + 1, delay=delay, reason=reason))
        await asyncio.sleep(delay)

    async def _request(self, url: str, headers: Mapping[str, str], shown: str) -> httpx.Response:
        """GET with retries; returns any non-retryable response (the caller judges its status)."""
        auth = self.credentials.auth_for(url)
        reason = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._semaphore:
                    response = await self._http().get(url, headers=dict(headers), auth=auth)
            except RETRY_EXCEPTIONS as exc:
                reason = self.describe(exc)
                if is_certificate_error(exc):
                    raise unavailable(shown, reason, certificate=True) from None
            except httpx.HTTPError as exc:
                raise unavailable(shown, self.describe(exc)) from None
            else:
                if not retryable_status(response.status_code):
                    return response
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            if attempt < self.retries:
                await self.sleep_before_retry(shown, attempt, reason)
        raise unavailable(shown, reason, attempts=self.retries + 1)

    async def get_range(self, url: str, start: int | None, end: int | None = None) -> tuple[int, bytes, int | None]:
        """Bytes ``start``..``end`` of ``url`` (``start`` None: the last ``end`` bytes).

        Returns ``(status, content, total size)``: 206 with the slice when the server honours
        ranges, 200 with the whole file when it does not (the caller then has it all).
        """
        real = self.remember_credentials(url)
        shown = redact_url(url)
        if self.offline:
            raise offline_miss(shown, "a part of the file")
        spec = f"bytes=-{end}" if start is None else f"bytes={start}-{'' if end is None else end}"
        response = await self._request(real, {"Range": spec, "Accept-Encoding": "identity"}, shown)
        if response.status_code not in (200, 206):
            raise unavailable(shown, f"HTTP {response.status_code} {response.reason_phrase}".strip())
        total = None
        content_range = response.headers.get("content-range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        elif response.status_code == 200:
            total = len(response.content)
        return response.status_code, response.content, total

    def describe(self, exc: BaseException) -> str:
        """An exception as a reason to show, with any credential scrubbed out."""
        text = str(exc) or type(exc).__name__
        return self.credentials.scrub(f"{type(exc).__name__}: {text}" if str(exc) else text)

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
        policy_only = read_policy(cache_entry) if cache_entry is not None else None
        usable = policy_only is not None and (
            self.offline or policy_only.fresh(now) or policy_only.etag or policy_only.last_modified
        )
        cached = read_entry(cache_entry) if usable else None
        if self.offline:
            if cached is not None:
                return cached[1]
            raise offline_miss(shown, subject)
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
            refreshed = refresh_policy(cached[0], response, now)
            write_policy(cache_entry, refreshed)
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
            raise unavailable(shown, f"HTTP {status} {response.reason_phrase}".strip())
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
                remove_entry(cache_entry)
            elif status in (200, 203, 404, 410):
                policy = new_policy(shown, final_url, response, directives, now, content)
                store_entry(cache_entry, policy, content, policy_only)
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
                digests, length = await bodies.copy_local(self, file_url_to_path(real), tmp, name, version, hashes)
            else:
                if self.offline:
                    raise offline_miss(shown, f"the file `{filename}`")
                digests, length = await bodies.to_file(self, real, shown, tmp, name, version, hashes, size, filename)
            verify(filename, shown, hashes or {}, digests)
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
        if urlsplit(real).scheme == "file":
            source = file_url_to_path(real)
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise DownloadError(f"could not read `{source}`: {exc.strerror or exc}", context={"path": str(source)}) from None
            self.reporter.report(DownloadStarted(name=name, version=version, total_bytes=len(data)))
            found = hashers(hashes)
            for hasher in found.values():
                hasher.update(data)
            digests, length = {k: h.hexdigest() for k, h in found.items()}, len(data)
        else:
            if self.offline:
                raise offline_miss(shown, f"the file `{filename}`")
            data, digests, length = await bodies.to_memory(self, real, shown, name, version, hashes, size, filename)
        verify(filename, shown, hashes or {}, digests)
        self.reporter.report(DownloadFinished(name=name, version=version, bytes=length))
        return data, digests["sha256"]


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

