"""The HTTP cache's rules, pure: what a cached response is, and when it may be used unasked.

A private cache, in the spirit of uv's ``httpcache``: a cached response is two files,
``<entry>.body`` and ``<entry>.json`` (the ``CachePolicy``: status, content type, ETag,
Last-Modified, ``max-age``, ``no-cache``, when it was fetched, and the body's sha256 so a
torn pair of files reads as a miss; ``cacheentry`` reads and writes them). A request then
goes one of four ways (``HttpClient.get``):

* fresh (``max-age`` not yet reached, no ``no-cache``): answered from the cache, no request;
* stale with a validator: a conditional request (``If-None-Match`` / ``If-Modified-Since``);
  ``304 Not Modified`` refreshes the policy (``refresh_policy``) and the cached body is used;
* stale without a validator, or a new URL: a plain request; ``no-store`` answers are not
  stored (and replace nothing);
* offline: whatever is cached is used regardless of age; a miss raises ``OfflineCacheMiss``.

404 and 410 answers are cached like any other, so offline runs that consult several indexes
still know a name is absent from one of them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx


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


def new_policy(
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


def refresh_policy(old: CachePolicy, response: httpx.Response, now: float) -> CachePolicy:
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

