"""Name lookups shared by every connection of one HTTP client: one ``getaddrinfo`` per host.

httpcore resolves the host again for every connection it opens, and an install opens many at
once (16 downloads in parallel). Some resolvers drop part of such a burst: on this project's
machines one lookup in a burst of 20 waits out the resolver's 5 s timeout, which turned a
1-second download into a 6-second one about every other cold install. Tools that multiplex
HTTP/2 (uv) open one connection per host and rarely see it.

``Lookups`` resolves each host once (concurrent callers wait for that one answer) and keeps
the answer for the client's lifetime; ``install`` puts it under an httpx client by wrapping
the network backend of its connection pools, so connections are opened to the addresses
found, in the resolver's order, while TLS still checks the host's name. A pool whose
internals are not the expected ones is left alone: sharing lookups is an optimisation only.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpcore

__all__ = ["Lookups", "install"]


class Lookups:
    """Thread-safe, per-client answers of ``getaddrinfo`` for TCP, by (host, port)."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, int], list[str]] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to try for ``host``, best first (one lookup per host and port)."""
        key = (host, port)
        found = self._answers.get(key)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._answers.get(key)
            if found is None:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                found = list(dict.fromkeys(str(info[4][0]) for info in infos))
                self._answers[key] = found
        return found


class _SharedAsyncBackend(httpcore.AsyncNetworkBackend):
    """An async backend that connects to the addresses ``Lookups`` found for the host."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, lookups: Lookups) -> None:
        self._inner = inner
        self._lookups = lookups

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            addresses = await asyncio.wait_for(loop.run_in_executor(None, self._lookups.addresses, host, port), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve `{host}`: {exc}") from exc
        error: Exception | None = None
        for i, address in enumerate(addresses):
            try:
                return await self._inner.connect_tcp(address, port, _patience(timeout, i, len(addresses)),
                                                     local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for `{host}`")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SharedSyncBackend(httpcore.NetworkBackend):
    """The blocking twin of ``_SharedAsyncBackend`` (the clients that stream file bodies)."""

    def __init__(self, inner: httpcore.NetworkBackend, lookups: Lookups) -> None:
        self._inner = inner
        self._lookups = lookups

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            addresses = self._lookups.addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve `{host}`: {exc}") from exc
        error: Exception | None = None
        for i, address in enumerate(addresses):
            try:
                return self._inner.connect_tcp(address, port, _patience(timeout, i, len(addresses)),
                                               local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for `{host}`")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


#: how long a connection attempt may take while other addresses of the host remain to try
FALLBACK_AFTER = 2.0


def _patience(timeout: float | None, index: int, count: int) -> float | None:
    """The connect timeout for the ``index``-th of ``count`` addresses.

    The addresses are tried in the resolver's order (IPv6 first where it is configured);
    an address that does not answer (a broken IPv6 route) must not hold the connection for
    the whole timeout while the next one would answer at once, so every address but the last
    gets at most ``FALLBACK_AFTER`` seconds.
    """
    if index == count - 1:
        return timeout
    return FALLBACK_AFTER if timeout is None else min(timeout, FALLBACK_AFTER)


def install(client: Any, lookups: Lookups) -> int:
    """Make the connection pools of an httpx client (and of its proxy mounts) share ``lookups``.

    Returns how many pools now do (0 when httpx's internals are not the expected ones).
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    shared = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _SharedAsyncBackend(backend, lookups)
            shared += 1
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _SharedSyncBackend(backend, lookups)
            shared += 1
    return shared
