"""The HTTP layer against a local server: caching, retries, offline, credentials, downloads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pyx_server.engine.cache import Bucket, Cache, digest
from pyx_server.engine.errors import (
    ConfigError,
    DownloadError,
    HashMismatch,
    IndexUnavailable,
    OfflineCacheMiss,
)
from pyx_server.engine.index.http import HttpClient
from pyx_server.engine.index.httpcache import CachePolicy, parse_cache_control
from pyx_server.engine.index.httpsettings import FILE_STREAMS, concurrency_from_env
from pyx_server.engine.progress import (
    CollectingReporter,
    DownloadFinished,
    DownloadProgress,
    DownloadStarted,
    Retrying,
)
from tests.support.index_server import LocalIndex

IndexFactory = Callable[..., LocalIndex]


def entry_for(cache_dir: Path, name: str = "demo") -> Path:
    return Cache(cache_dir).bucket(Bucket.SIMPLE) / "k" / name


def client(reporter: CollectingReporter | None = None, **options) -> HttpClient:
    options.setdefault("backoff", 0.001)
    return HttpClient(reporter=reporter, **options)


async def get_twice(url: str, entry: Path, **options):
    async with client(**options) as http:
        first = await http.get(url, cache_entry=entry)
        second = await http.get(url, cache_entry=entry)
    return first, second


def test_fresh_page_makes_no_second_request(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(cache_control="max-age=600")
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    first, second = asyncio.run(get_twice(index.url + "demo/", entry))
    assert first.status == 200 and not first.from_cache
    assert second.from_cache and second.content == first.content
    assert second.content_type == first.content_type
    assert index.count("/simple/demo/") == 1
    # another client (another process, later) also trusts the stored freshness
    asyncio.run(get_twice(index.url + "demo/", entry))
    assert index.count("/simple/demo/") == 1


def test_stale_page_is_revalidated_with_304(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()  # max-age=0, must-revalidate, ETag
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    first, second = asyncio.run(get_twice(index.url + "demo/", entry))
    records = index.requests_to("/simple/demo/")
    assert [r.status for r in records] == [200, 304]
    assert records[1].headers["if-none-match"].startswith('"')
    assert second.from_cache and second.status == 200 and second.content == first.content

    # the page changes: the conditional request gets the new body, which replaces the old
    index.build("demo", "2.0")
    async def third():
        async with client() as http:
            return await http.get(index.url + "demo/", cache_entry=entry)
    changed = asyncio.run(third())
    assert index.requests_to("/simple/demo/")[-1].status == 200
    assert b"demo-2.0" in changed.content and not changed.from_cache
    assert b"demo-2.0" in entry.with_name("demo.body").read_bytes()


def test_304_refreshes_the_policy(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    asyncio.run(get_twice(index.url + "demo/", entry))  # 200 then 304 (max-age=0)
    index.cache_control = "max-age=600"
    asyncio.run(get_twice(index.url + "demo/", entry))  # 304 carrying max-age=600, then fresh
    assert [r.status for r in index.requests_to("/simple/demo/")] == [200, 304, 304]
    import json

    policy = CachePolicy(**json.loads(entry.with_name("demo.json").read_text()))
    assert policy.max_age == 600 and not policy.no_cache


def test_no_store_is_not_stored(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(cache_control="max-age=600")
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    asyncio.run(get_twice(index.url + "other/", entry.with_name("other")))  # a 404, stored too
    assert entry.with_name("other.json").exists()

    index.cache_control = "no-store"
    asyncio.run(get_twice(index.url + "demo/", entry))
    assert index.count("/simple/demo/") == 2
    assert not entry.with_name("demo.body").exists() and not entry.with_name("demo.json").exists()


def test_no_cache_always_revalidates(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(cache_control="max-age=600, no-cache")
    index.build("demo", "1.0")
    asyncio.run(get_twice(index.url + "demo/", entry_for(cache_dir)))
    assert [r.status for r in index.requests_to("/simple/demo/")] == [200, 304]


def test_torn_cache_entry_is_a_miss(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(cache_control="max-age=600")
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    asyncio.run(get_twice(index.url + "demo/", entry))
    entry.with_name("demo.body").write_bytes(b"half a page")
    first, _ = asyncio.run(get_twice(index.url + "demo/", entry))
    assert not first.from_cache and b"demo-1.0" in first.content
    assert index.count("/simple/demo/") == 2


def test_identical_refetch_leaves_the_entry_alone(local_index: IndexFactory, cache_dir: Path) -> None:
    # no validator: every run refetches the whole page; the same bytes are not written again
    index = local_index(cache_control=None, etag=False)
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    body, policy = entry.with_name("demo.body"), entry.with_name("demo.json")
    first, second = asyncio.run(get_twice(index.url + "demo/", entry))
    assert index.count("/simple/demo/") == 2 and not second.from_cache
    assert second.sha256 == first.sha256 == hashlib.sha256(first.content).hexdigest()
    stored = (body.stat().st_ino, policy.stat().st_ino)
    asyncio.run(get_twice(index.url + "demo/", entry))
    assert (body.stat().st_ino, policy.stat().st_ino) == stored  # neither file was replaced

    # a body that differs from its policy's hash (a torn pair) is rewritten, not trusted
    body.write_bytes(b"x" * len(first.content))
    asyncio.run(get_twice(index.url + "demo/", entry))
    assert body.read_bytes() == first.content

    # a changed page replaces the body and the policy
    index.build("demo", "2.0")
    changed, _ = asyncio.run(get_twice(index.url + "demo/", entry))
    assert b"demo-2.0" in body.read_bytes() and changed.sha256 != first.sha256
    assert json.loads(policy.read_text())["body_sha256"] == changed.sha256


def test_offline_uses_stale_cache_without_requests(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()  # stale at once
    index.build("demo", "1.0")
    entry = entry_for(cache_dir)
    asyncio.run(get_twice(index.url + "demo/", entry))
    before = len(index.requests)
    first, _ = asyncio.run(get_twice(index.url + "demo/", entry, offline=True))
    assert first.from_cache and b"demo-1.0" in first.content
    assert len(index.requests) == before


def test_offline_miss_names_the_url(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()

    async def go():
        async with client(offline=True) as http:
            await http.get(index.url + "demo/", cache_entry=entry_for(cache_dir), subject="the index page of `demo`")

    with pytest.raises(OfflineCacheMiss) as excinfo:
        asyncio.run(go())
    assert f"`{index.url}demo/`" in excinfo.value.message and "`demo`" in excinfo.value.message
    assert any("without `--offline`" in h for h in excinfo.value.hints)
    assert index.requests == []


def test_server_error_once_is_retried(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    index.build("demo", "1.0")
    index.fail(times=1, status=503)
    reporter = CollectingReporter()
    first, _ = asyncio.run(get_twice(index.url + "demo/", entry_for(cache_dir), reporter=reporter))
    assert first.status == 200
    retries = [e for e in reporter.events if isinstance(e, Retrying)]
    assert len(retries) == 1
    assert retries[0].url == index.url + "demo/" and retries[0].attempt == 1 and "503" in retries[0].reason
    assert [r.status for r in index.requests_to("/simple/demo/")][:2] == [503, 200]


def test_server_error_always_gives_index_unavailable(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    index.fail(times=100, status=500)
    reporter = CollectingReporter()

    async def go():
        async with client(reporter=reporter, retries=2) as http:
            await http.get(index.url + "demo/", cache_entry=entry_for(cache_dir))

    with pytest.raises(IndexUnavailable) as excinfo:
        asyncio.run(go())
    message = excinfo.value.message
    assert f"`{index.url}demo/`" in message and "HTTP 500" in message and "3 attempts" in message
    assert excinfo.value.code == "index-unavailable" and excinfo.value.hints
    assert index.count("/simple/demo/") == 3
    assert [e.attempt for e in reporter.events if isinstance(e, Retrying)] == [1, 2]
    delays = [e.delay for e in reporter.events if isinstance(e, Retrying)]
    assert delays[1] == 2 * delays[0]  # exponential backoff


def test_connection_refused_gives_index_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reporter = CollectingReporter()

    async def go():
        async with client(reporter=reporter, retries=1) as http:
            await http.get(f"http://127.0.0.1:{port}/simple/demo/")

    with pytest.raises(IndexUnavailable) as excinfo:
        asyncio.run(go())
    assert f"`http://127.0.0.1:{port}/simple/demo/`" in excinfo.value.message
    assert "ConnectError" in excinfo.value.message
    assert len([e for e in reporter.events if isinstance(e, Retrying)]) == 1


def all_cache_text(cache_dir: Path) -> str:
    """Every file name and every file's bytes in the cache, as one string to search."""
    parts = []
    for path in cache_dir.rglob("*"):
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_url_credentials_are_sent_but_never_shown(local_index: IndexFactory, cache_dir: Path) -> None:
    secret = "s3cret-Passw0rd"
    index = local_index(auth=("alice", secret))
    served = index.build("demo", "1.0")
    reporter = CollectingReporter()
    cache = Cache(cache_dir)
    entry = cache.bucket(Bucket.SIMPLE) / digest(
        "http://****@127.0.0.1/"
    ) / "demo"

    async def go():
        async with client(reporter=reporter) as http:
            page = await http.get(index.auth_url + "demo/", cache_entry=entry)
            # a file on the same host gets the credentials of the index URL
            sha = await http.download(
                index.file_url(served.filename), cache_dir / "dl" / served.filename, name="demo", version="1.0"
            )
            return page, sha

    page, sha = asyncio.run(go())
    assert page.status == 200 and sha == served.sha256
    assert all("authorization" in r.headers for r in index.requests)
    assert secret not in page.url and "alice" not in page.url
    assert secret not in all_cache_text(cache_dir)
    assert secret not in repr(reporter.events)

    # wrong password: refused, and the message names the redacted URL only
    async def wrong():
        async with client(reporter=reporter) as http:
            await http.get(index.auth_url.replace(secret, "wrong-pass-word") + "demo/")

    with pytest.raises(IndexUnavailable) as excinfo:
        asyncio.run(wrong())
    text = str(excinfo.value.to_dict()) + repr(excinfo.value.context)
    assert "401" in excinfo.value.message and "****@127.0.0.1" in excinfo.value.message
    assert "wrong-pass-word" not in text and secret not in text
    assert any("netrc" in h for h in excinfo.value.hints)


def test_netrc_credentials(local_index: IndexFactory, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "netrc-Secret-123"
    index = local_index(auth=("bob", secret))
    index.build("demo", "1.0")

    async def go():
        async with client() as http:
            return await http.get(index.url + "demo/", cache_entry=entry_for(cache_dir))

    with pytest.raises(IndexUnavailable):  # no credentials at all
        asyncio.run(go())
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\n  login bob\n  password {secret}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    page = asyncio.run(go())
    assert page.status == 200 and b"demo-1.0" in page.content
    assert index.requests[-1].headers["authorization"].startswith("Basic ")
    assert secret not in all_cache_text(cache_dir)


def test_default_netrc_in_home(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(auth=("carol", "home-netrc-pw"))
    index.build("demo", "1.0")
    netrc = Path(os.path.expanduser("~")) / ".netrc"
    netrc.write_text("machine 127.0.0.1 login carol password home-netrc-pw\n")
    netrc.chmod(0o600)

    async def go():
        async with client() as http:
            return await http.get(index.url + "demo/")

    assert asyncio.run(go()).status == 200


def test_download_retries_a_dropped_connection(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = index.build("demo", "1.0", files={"demo/big.bin": os.urandom(300_000)})
    index.drop_connection(served.filename)
    reporter = CollectingReporter()
    dest = tmp_path / "out" / served.filename

    async def go():
        async with client(reporter=reporter) as http:
            return await http.download(
                index.file_url(served.filename), dest, name="demo", version="1.0", hashes={"sha256": served.sha256}
            )

    assert asyncio.run(go()) == served.sha256
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == served.sha256
    assert index.count(f"/files/{served.filename}") == 2
    events = reporter.events
    assert len([e for e in events if isinstance(e, Retrying)]) == 1
    assert len([e for e in events if isinstance(e, DownloadStarted)]) == 1
    size = dest.stat().st_size
    assert sum(e.advance for e in events if isinstance(e, DownloadProgress)) == size  # no byte counted twice
    assert [e for e in events if isinstance(e, DownloadFinished)] == [DownloadFinished("demo", "1.0", size)]
    assert sorted(p.name for p in dest.parent.iterdir()) == [served.filename]


def test_download_that_keeps_failing(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = index.build("demo", "1.0", files={"demo/big.bin": os.urandom(100_000)})
    index.drop_connection(served.filename, times=10)
    dest = tmp_path / "out" / served.filename

    async def go():
        async with client(retries=2) as http:
            await http.download(index.file_url(served.filename), dest, name="demo", version="1.0")

    with pytest.raises(DownloadError) as excinfo:
        asyncio.run(go())
    assert f"`{served.filename}`" in excinfo.value.message and "3 attempts" in excinfo.value.message
    assert list(dest.parent.iterdir()) == []


def test_download_hash_mismatch_leaves_nothing(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = index.build("demo", "1.0")
    dest = tmp_path / "out" / served.filename
    wrong = "0" * 64

    async def go():
        async with client() as http:
            await http.download(index.file_url(served.filename), dest, name="demo", version="1.0", hashes={"sha256": wrong})

    with pytest.raises(HashMismatch) as excinfo:
        asyncio.run(go())
    message = excinfo.value.message
    assert served.filename in message and wrong in message and served.sha256 in message
    assert excinfo.value.context["actual"] == served.sha256
    assert list(dest.parent.iterdir()) == []


def test_download_from_file_url(tmp_path: Path) -> None:
    source = tmp_path / "demo-1.0.tar.gz"
    source.write_bytes(b"x" * 1000)
    reporter = CollectingReporter()

    async def go(offline: bool):
        async with client(reporter=reporter, offline=offline) as http:
            return await http.download(source.as_uri(), tmp_path / "out" / "a.tar.gz", name="demo", version="1.0")

    assert asyncio.run(go(offline=True)) == hashlib.sha256(b"x" * 1000).hexdigest()
    assert DownloadFinished("demo", "1.0", 1000) in reporter.events


def test_offline_download_is_refused(tmp_path: Path) -> None:
    async def go():
        async with client(offline=True) as http:
            await http.download("http://127.0.0.1:9/files/demo-1.0.tar.gz", tmp_path / "x", name="demo", version="1.0")

    with pytest.raises(OfflineCacheMiss, match="demo-1.0.tar.gz"):
        asyncio.run(go())


def test_concurrency_is_bounded(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = [index.build(f"p{i}", "1.0") for i in range(6)]
    index.delay = 0.15

    async def go():
        async with client(concurrency=2) as http:
            return await asyncio.gather(
                *(
                    http.download(index.file_url(s.filename), tmp_path / s.filename, name=s.name, version="1.0")
                    for s in served
                )
            )

    digests = asyncio.run(go())
    assert digests == [s.sha256 for s in served]
    assert index.max_in_flight == 2


def _download_all(index, served, tmp_path: Path, concurrency: int) -> list[str]:
    async def go():
        async with client(concurrency=concurrency) as http:
            return await asyncio.gather(
                *(
                    http.download(index.file_url(s.filename), tmp_path / s.filename, name=s.name, version="1.0",
                                  size=s.path.stat().st_size)
                    for s in served
                )
            )

    return asyncio.run(go())


def test_file_bodies_stream_a_few_at_once(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = [index.build(f"p{i}", "1.0") for i in range(10)]
    index.delay = 0.1
    assert _download_all(index, served, tmp_path, concurrency=16) == [s.sha256 for s in served]
    # each body is a thread taking the GIL for every piece: more streams only cost CPU
    assert index.max_in_flight == FILE_STREAMS


def test_waiting_file_bodies_go_the_biggest_first(local_index: IndexFactory, tmp_path: Path) -> None:
    index = local_index()
    served = [index.build(f"p{i}", "1.0", files={f"p{i}/blob.bin": os.urandom(1000 * (i % 4 + 1) + i)})
              for i in range(8)]
    index.delay = 0.05
    assert _download_all(index, served, tmp_path, concurrency=1) == [s.sha256 for s in served]
    asked = [r.path.rpartition("/")[2] for r in index.requests if r.path.endswith(".whl")]
    # the first goes at once; the others waited, and were let in by size, the biggest first
    assert asked[0] == served[0].filename
    assert asked[1:] == sorted((s.filename for s in served[1:]), key=lambda f: -(tmp_path / f).stat().st_size)


def test_concurrency_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert concurrency_from_env({}) == 16
    assert concurrency_from_env({"PYX_CONCURRENT_DOWNLOADS": "3"}) == 3
    with pytest.raises(ConfigError, match="`zero`"):
        concurrency_from_env({"PYX_CONCURRENT_DOWNLOADS": "zero"})
    monkeypatch.setenv("PYX_CONCURRENT_DOWNLOADS", "5")
    assert HttpClient().concurrency == 5


def test_parse_cache_control() -> None:
    assert parse_cache_control('max-age=600, No-Cache, private="x"') == {
        "max-age": "600",
        "no-cache": None,
        "private": "x",
    }
    assert parse_cache_control(None) == {}
    policy = CachePolicy("u", "u", 200, None, None, None, 10.0, False, 100.0, "")
    assert policy.fresh(105.0) and not policy.fresh(111.0)
    assert not CachePolicy("u", "u", 200, None, None, None, None, False, 100.0, "").fresh(100.0)


# -- big files in byte ranges ----------------------------------------------------------------------


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of 100 kB and more come in ranges of about 100 kB (the real threshold is 8 MiB)."""
    from pyx_server.engine.index import bodies

    monkeypatch.setattr(bodies, "RANGED_MIN", 100_000)


def fetch_bytes(index: LocalIndex, served, reporter=None, retries: int | None = None):
    async def go():
        async with client(reporter=reporter, **({} if retries is None else {"retries": retries})) as http:
            return await http.download_bytes(index.file_url(served.filename), name="big", version="1.0",
                                              hashes={"sha256": served.sha256}, size=served.path.stat().st_size)

    return asyncio.run(go())


def test_a_big_file_comes_in_parallel_ranges(local_index: IndexFactory, small_ranges) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    reporter = CollectingReporter()
    data, sha256 = fetch_bytes(index, served, reporter)
    assert sha256 == served.sha256 and bytes(data) == served.path.read_bytes()
    asked = index.requests_to(f"/files/{served.filename}")
    assert len(asked) == 4 and all(r.status == 206 for r in asked)
    assert sorted(r.headers["range"] for r in asked)[0].startswith("bytes=0-")
    events = reporter.events
    assert len([e for e in events if isinstance(e, DownloadStarted)]) == 1
    assert sum(e.advance for e in events if isinstance(e, DownloadProgress)) == len(data)


@pytest.mark.parametrize("ranged", [True, False])
def test_a_reporter_that_wants_no_progress_gets_only_the_start_and_end(
    local_index: IndexFactory, small_ranges, tmp_path: Path, ranged: bool
) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    reporter = CollectingReporter()
    reporter.wants_progress = False

    async def go():
        async with client(reporter=reporter) as http:
            return await http.download(index.file_url(served.filename), tmp_path / served.filename, name="big",
                                       version="1.0", size=served.path.stat().st_size if ranged else None)

    assert asyncio.run(go()) == served.sha256
    assert len(index.requests_to(f"/files/{served.filename}")) == (4 if ranged else 1)
    assert [type(e) for e in reporter.events] == [DownloadStarted, DownloadFinished]


def test_a_server_without_ranges_sends_the_file_once(local_index: IndexFactory, small_ranges) -> None:
    index = local_index()
    index.ranges = False
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    reporter = CollectingReporter()
    data, sha256 = fetch_bytes(index, served, reporter)
    assert sha256 == served.sha256 and bytes(data) == served.path.read_bytes()
    assert [r.status for r in index.requests_to(f"/files/{served.filename}")] == [200]
    assert sum(e.advance for e in reporter.events if isinstance(e, DownloadProgress)) == len(data)


@pytest.mark.parametrize("misbehaviour", ["500", "drop"])
def test_a_failed_range_is_fetched_again(local_index: IndexFactory, small_ranges, misbehaviour: str) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    if misbehaviour == "500":
        index.fail(1, path=f"/files/{served.filename}")
    else:
        index.drop_connection(served.filename)
    data, sha256 = fetch_bytes(index, served)
    assert sha256 == served.sha256 and bytes(data) == served.path.read_bytes()
    assert len(index.requests_to(f"/files/{served.filename}")) == 5


def test_a_range_that_keeps_failing_is_a_download_error(local_index: IndexFactory, small_ranges) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    index.fail(50, path=f"/files/{served.filename}")
    with pytest.raises(DownloadError) as info:
        fetch_bytes(index, served, retries=1)
    assert served.filename in info.value.message


def fetch_to_file(index: LocalIndex, served, dest: Path, retries: int | None = None) -> str:
    async def go():
        async with client(**({} if retries is None else {"retries": retries})) as http:
            return await http.download(index.file_url(served.filename), dest, name="big", version="1.0",
                                       hashes={"sha256": served.sha256}, size=served.path.stat().st_size)

    return asyncio.run(go())


@pytest.mark.parametrize("ranges", [True, False], ids=["ranges", "no-ranges"])
def test_a_big_file_downloaded_to_disk_comes_in_ranges_where_served(
    local_index: IndexFactory, small_ranges, tmp_path: Path, ranges: bool
) -> None:
    index = local_index()
    index.ranges = ranges
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    dest = tmp_path / served.filename
    assert fetch_to_file(index, served, dest) == served.sha256
    assert dest.read_bytes() == served.path.read_bytes()
    statuses = [r.status for r in index.requests_to(f"/files/{served.filename}")]
    assert statuses == ([206] * 4 if ranges else [200])
    assert [p.name for p in tmp_path.iterdir()] == [served.filename]  # no partial file left


def test_a_failed_ranged_download_to_disk_leaves_no_file(local_index: IndexFactory, small_ranges, tmp_path: Path) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(350_000)})
    index.fail(50, path=f"/files/{served.filename}")
    with pytest.raises(DownloadError):
        fetch_to_file(index, served, tmp_path / served.filename, retries=1)
    assert list(tmp_path.iterdir()) == []


def test_an_index_that_lists_the_wrong_size_is_named(local_index: IndexFactory, small_ranges) -> None:
    index = local_index()
    served = index.build("big", "1.0", files={"big/blob.bin": os.urandom(300_000)})
    listed = served.path.stat().st_size + 1000

    async def go():
        async with client(retries=0) as http:
            await http.download_bytes(index.file_url(served.filename), name="big", version="1.0", size=listed)

    with pytest.raises(DownloadError) as info:
        asyncio.run(go())
    assert f"not the {listed} the index lists" in info.value.message
