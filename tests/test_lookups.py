"""One name lookup per host for all of a client's connections (bursts of lookups stall resolvers)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pyx_server.engine.index.http import HttpClient
from pyx_server.engine.index.lookups import Lookups, install
from tests.support.index_server import LocalIndex

IndexFactory = Callable[..., LocalIndex]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every getaddrinfo call (still answered by the real resolver), slowed so calls overlap."""
    calls: list[tuple[str, int]] = []
    real = socket.getaddrinfo

    def slow(host, port, *args, **kwargs):
        calls.append((host, port))
        time.sleep(0.05)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    return calls


def test_concurrent_lookups_of_one_host_ask_the_resolver_once(counted) -> None:
    lookups = Lookups()
    answers: list[list[str]] = []
    threads = [threading.Thread(target=lambda: answers.append(lookups.addresses("localhost", 80))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted == [("localhost", 80)]
    assert len(answers) == 10 and all(a == answers[0] for a in answers)
    assert "127.0.0.1" in answers[0]
    lookups.addresses("localhost", 443)
    assert counted == [("localhost", 80), ("localhost", 443)]  # keyed by port as well


def test_both_clients_get_the_shared_backend() -> None:
    """If httpx's internals change, this fails: the 5-second stalls would be back unnoticed."""
    assert install(httpx.AsyncClient(), Lookups()) >= 1
    assert install(httpx.Client(), Lookups()) >= 1


def test_parallel_downloads_by_host_name_resolve_it_once(local_index: IndexFactory, tmp_path: Path, counted) -> None:
    index = local_index()
    served = [index.build(f"pkg{i}", "1.0") for i in range(6)]

    async def go():
        async with HttpClient() as http:
            pages = [http.get(f"http://localhost:{index.port}/simple/pkg{i}/", cache_entry=tmp_path / f"e{i}")
                     for i in range(6)]
            files = [
                http.download_bytes(f"http://localhost:{index.port}/files/{s.filename}", name=f"pkg{i}", version="1.0",
                                    hashes={"sha256": s.sha256})
                for i, s in enumerate(served)
            ]
            return await asyncio.gather(*pages, *files)

    results = asyncio.run(go())
    assert all(r is not None for r in results)
    assert [r[1] for r in results[6:]] == [s.sha256 for s in served]
    assert counted.count(("localhost", index.port)) == 1


def test_an_unresolvable_host_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx_server.engine.errors import IndexUnavailable

    def unknown(host, *args, **kwargs):  # no query leaves the machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)

    async def go():
        async with HttpClient(retries=0) as http:
            await http.get("http://no-such-host.invalid/simple/x/", cache_entry=tmp_path / "e")

    with pytest.raises(IndexUnavailable) as info:
        asyncio.run(go())
    assert "no-such-host.invalid" in info.value.message


def test_an_address_that_does_not_answer_gives_way_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken first address (an IPv6 route that drops packets) costs the short patience,
    not the whole timeout; the last address gets the whole timeout."""
    import httpcore

    from pyx_server.engine.index import lookups as lookups_module

    attempts: list[tuple[str, float | None]] = []

    class Inner(httpcore.NetworkBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            attempts.append((host, timeout))
            if host == "2001:db8::1":
                raise httpcore.ConnectTimeout("no answer")
            return "stream"

    lookups = Lookups()
    lookups._answers[("example.test", 443)] = ["2001:db8::1", "192.0.2.1"]
    backend = lookups_module._SharedSyncBackend(Inner(), lookups)
    assert backend.connect_tcp("example.test", 443, timeout=30.0) == "stream"
    assert attempts == [("2001:db8::1", lookups_module.FALLBACK_AFTER), ("192.0.2.1", 30.0)]

