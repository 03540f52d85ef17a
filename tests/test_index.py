"""The index client end to end: strategies, find-links, file:// indexes, metadata, downloads, offline."""

from __future__ import annotations

import asyncio
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyx_server.engine.cache import Bucket, Cache, digest
from pyx_server.engine.config import IndexSettings, resolve_index_settings
from pyx_server.engine.errors import (
    HashMismatch,
    IndexUnavailable,
    InvalidMetadata,
    InvalidWheel,
    OfflineCacheMiss,
)
from pyx_server.engine.index.client import IndexClient, ProjectFiles, ProjectNotFound
from pyx_server.engine.progress import CollectingReporter, Retrying
from tests.support.index_server import LocalIndex, build_sdist, make_file_index, make_find_links_dir
from tests.support.wheels import build_wheel

IndexFactory = Callable[..., LocalIndex]


def settings(*indexes: str, find_links: tuple[str, ...] = (), **options: Any) -> IndexSettings:
    return IndexSettings(indexes=tuple(indexes), find_links=find_links, **options)


def run(settings_: IndexSettings, cache_dir: Path, job: Callable[[IndexClient], Any], reporter=None) -> Any:
    """Run ``job(client)`` inside a fresh IndexClient (a tiny backoff keeps retry tests fast)."""

    async def go():
        async with IndexClient(settings_, Cache(cache_dir), reporter, backoff=0.001) as client:
            return await job(client)

    return asyncio.run(go())


def filenames(result: ProjectFiles | ProjectNotFound) -> list[str]:
    assert isinstance(result, ProjectFiles), result
    return [f.filename for f in result.files]


def test_first_index_wins_and_find_links_merge(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    private = local_index()
    public = local_index(html_only=True)
    private.build("internal-tool", "1.0")
    public.build("internal-tool", "99.0")  # a name-squatting upload on the later index
    public.build("requests-ish", "2.0")
    links = make_find_links_dir(tmp_path / "links", [build_wheel(tmp_path / "w", "internal-tool", "1.5")])
    config = settings(private.url, public.url, find_links=(links.as_uri(),))

    async def job(client: IndexClient):
        return await client.project("Internal_Tool"), await client.project("requests-ish")

    tool, other = run(config, cache_dir, job)
    assert tool.name == "internal-tool"
    assert filenames(tool) == ["internal_tool-1.5-py3-none-any.whl", "internal_tool-1.0-py3-none-any.whl"]
    assert tool.index == private.url and tool.indexes == (private.url,)
    assert public.count("/simple/internal-tool/") == 0  # the later index is never consulted
    # a name the first index lacks comes from the next one (HTML-only there)
    assert filenames(other) == ["requests_ish-2.0-py3-none-any.whl"] and other.index == public.url
    assert private.count("/simple/requests-ish/", status=404) == 1


def test_a_package_pinned_to_an_index_takes_no_find_links_files(
    local_index: IndexFactory, cache_dir: Path, tmp_path: Path
) -> None:
    default, variants = local_index(), local_index()
    variants.build("torch", "2.7.1+cu126")
    default.build("numpy", "2.0")
    links = make_find_links_dir(tmp_path / "links", [build_wheel(tmp_path / "w", "torch", "2.13.0+cpu"),
                                                     build_wheel(tmp_path / "w", "numpy", "2.1")])
    config = settings(default.url, find_links=(links.as_uri(),), pinned=(("torch", (variants.url,)),))

    async def job(client: IndexClient):
        return await client.project("torch"), await client.project("numpy")

    torch, numpy = run(config, cache_dir, job)
    assert filenames(torch) == ["torch-2.7.1+cu126-py3-none-any.whl"]  # not the find-links CPU build
    assert sorted(filenames(numpy)) == ["numpy-2.0-py3-none-any.whl", "numpy-2.1-py3-none-any.whl"]


def test_unsafe_best_match_merges_every_index(local_index: IndexFactory, cache_dir: Path) -> None:
    first = local_index()
    second = local_index()
    first.build("demo", "1.0")
    second.build("demo", "2.0")
    second.build("demo", "1.0")  # same file name on both: the earlier index's copy is kept

    for strategy in ("unsafe-best-match", "unsafe-first-match"):
        result = run(settings(first.url, second.url, strategy=strategy), cache_dir, lambda c: c.project("demo"))
        assert filenames(result) == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
        assert [f.index for f in result.files] == [first.url, second.url]
        assert result.indexes == (first.url, second.url)
    first_only = run(settings(first.url, second.url), cache_dir, lambda c: c.project("demo"))
    assert filenames(first_only) == ["demo-1.0-py3-none-any.whl"]


def test_missing_project_is_a_value(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("demo", "1.0")
    links = make_find_links_dir(tmp_path / "links", [])
    result = run(settings(index.url, find_links=(links.as_uri(),)), cache_dir, lambda c: c.project("nothing-here"))
    assert result == ProjectNotFound(name="nothing-here", searched=(index.url, links.as_uri()))


def test_json_and_html_give_the_same_files(local_index: IndexFactory, cache_dir: Path) -> None:
    results = []
    for html_only in (False, True):
        index = local_index(html_only=html_only)
        index.build("demo", "1.0", requires_python=">=3.8")
        index.build("demo", "1.1")
        index.add(build_wheel(index.root / "extra", "demo", "0.9"), yanked="use 1.0")
        result = run(settings(index.url), cache_dir, lambda c: c.project("demo"))
        content_type = "json" if not html_only else "html"
        results.append((content_type, {f.filename: (f.requires_python, f.yanked, f.yanked_reason, f.hashes, bool(f.metadata)) for f in result.files}))
        assert result.versions == (("0.9", "1.0", "1.1") if not html_only else ())
    (_, from_json), (_, from_html) = results
    assert from_json == from_html
    assert from_json["demo-1.0-py3-none-any.whl"][0] == ">=3.8"
    assert from_json["demo-0.9-py3-none-any.whl"][1:3] == (True, "use 1.0")


def test_index_500_once_is_retried(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    index.build("demo", "1.0")
    index.fail(times=1, status=500, path="/simple/")
    reporter = CollectingReporter()
    result = run(settings(index.url), cache_dir, lambda c: c.project("demo"), reporter)
    assert filenames(result) == ["demo-1.0-py3-none-any.whl"]
    assert [e.reason for e in reporter.events if isinstance(e, Retrying)] == ["HTTP 500 Internal Server Error"]


def test_index_always_500(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    index.fail(times=100, status=502)
    with pytest.raises(IndexUnavailable) as excinfo:
        run(settings(index.url), cache_dir, lambda c: c.project("demo"))
    assert excinfo.value.message.startswith(f"could not fetch `{index.url}demo/`")
    assert "HTTP 502" in excinfo.value.message


def test_metadata_from_pep658_file(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(metadata_attr="dist-info-metadata")
    served = index.build("demo", "1.0", requires_dist=["dep>=2; extra == 'x'"], extras=["x"], requires_python=">=3.9")

    async def job(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        return await client.metadata(dist)

    meta = run(settings(index.url), cache_dir, job)
    assert meta.name == "demo" and str(meta.version) == "1.0"
    assert [str(r) for r in meta.requires_dist] == ['dep>=2; extra == "x"']
    assert str(meta.requires_python) == ">=3.9"
    assert index.count(f"/files/{served.filename}.metadata") == 1
    assert index.count(f"/files/{served.filename}") == 0  # the wheel itself was never downloaded
    # cached for good: a new client asks nothing more than the page
    run(settings(index.url), cache_dir, job)
    assert index.count(f"/files/{served.filename}.metadata") == 1


def test_metadata_from_the_wheel_when_no_file_is_offered(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(metadata=False)
    served = index.build("demo", "1.0", requires_dist=["dep"])

    async def job(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        assert dist.metadata is False
        return await client.metadata(dist)

    meta = run(settings(index.url), cache_dir, job)
    assert [str(r) for r in meta.requires_dist] == ["dep"]
    assert index.count(f"/files/{served.filename}") == 1
    assert index.count(f"/files/{served.filename}.metadata") == 0
    tmp = cache_dir / ".tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []  # no scratch download left behind
    run(settings(index.url), cache_dir, job)
    assert index.count(f"/files/{served.filename}") == 1  # the extracted metadata is cached


def test_offered_metadata_file_missing_falls_back_to_wheel(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    served = index.build("demo", "1.0", requires_dist=["dep"])
    index.fail(times=1, status=404, path=f"/files/{served.filename}.metadata")

    async def job(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        assert dist.metadata
        return await client.metadata(dist)

    assert [str(r) for r in run(settings(index.url), cache_dir, job).requires_dist] == ["dep"]
    assert index.count(f"/files/{served.filename}.metadata", status=404) == 1
    assert index.count(f"/files/{served.filename}") == 1


def test_metadata_mismatches(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    served = index.build("demo", "1.0")
    served.metadata_bytes = served.metadata_bytes.replace(b"Version: 1.0", b"Version: 6.6")

    async def job(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        return await client.metadata(dist)

    # the page advertises the hash of the (now different) bytes it serves: consistent, but the
    # content contradicts the file name
    with pytest.raises(InvalidMetadata) as excinfo:
        run(settings(index.url), cache_dir, job)
    assert "`demo-1.0-py3-none-any.whl`" in excinfo.value.message

    async def tampered(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        from dataclasses import replace

        return await client.metadata(replace(dist, metadata={"sha256": "f" * 64}))

    with pytest.raises(HashMismatch, match="metadata"):
        run(settings(index.url), cache_dir, tampered)


def test_invalid_metadata(tmp_path: Path, cache_dir: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    with zipfile.ZipFile(links / "demo-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("demo/__init__.py", "")
        zf.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: not-a-version\n")
    with zipfile.ZipFile(links / "other-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("other-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: other\nVersion: 1.0\n")
        zf.writestr("Other-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: other\nVersion: 1.0\n")

    def job_for(name: str):
        async def job(client: IndexClient):
            (dist,) = (await client.project(name)).files
            return await client.metadata(dist)

        return job

    config = settings(find_links=(links.as_uri(),))
    with pytest.raises(InvalidMetadata) as excinfo:
        run(config, cache_dir, job_for("demo"))
    assert "`demo-1.0-py3-none-any.whl`" in excinfo.value.message and "not-a-version" in excinfo.value.message
    with pytest.raises(InvalidWheel, match="more than one"):
        run(config, cache_dir, job_for("other"))


def test_sdist_metadata_static_or_not(tmp_path: Path, cache_dir: Path) -> None:
    static = build_sdist(tmp_path / "s", "staticpkg", "1.0", metadata_version="2.2", requires_dist=["dep"])
    dynamic = build_sdist(tmp_path / "s", "dynpkg", "1.0", metadata_version="2.2", dynamic=["Requires-Dist"])
    old = build_sdist(tmp_path / "s", "oldpkg", "1.0")
    links = make_find_links_dir(tmp_path / "links", [static, dynamic, old])
    config = settings(find_links=(links.as_uri(),))

    def meta(name: str):
        async def job(client: IndexClient):
            (dist,) = (await client.project(name)).files
            return await client.metadata(dist)

        return run(config, cache_dir, job)

    assert [str(r) for r in meta("staticpkg").requires_dist] == ["dep"]
    for name in ("dynpkg", "oldpkg"):
        with pytest.raises(InvalidMetadata, match="must be built"):
            meta(name)


def test_download_verifies_and_returns_sha256(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    index = local_index()
    good = index.build("demo", "1.0")
    bad = index.add(build_wheel(tmp_path / "w", "demo", "2.0"), hashes={"sha256": "a" * 64})

    async def job(client: IndexClient):
        files = {f.filename: f for f in (await client.project("demo")).files}
        digest = await client.download(files[good.filename], tmp_path / "out" / good.filename)
        try:
            await client.download(files[bad.filename], tmp_path / "out" / bad.filename)
        except HashMismatch as exc:
            return digest, exc
        return digest, None

    digest, error = run(settings(index.url), cache_dir, job)
    assert digest == good.sha256 == hashlib.sha256((tmp_path / "out" / good.filename).read_bytes()).hexdigest()
    assert isinstance(error, HashMismatch)
    assert bad.filename in error.message and "a" * 64 in error.message and bad.sha256 in error.message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [good.filename]


def test_dropped_download_is_retried(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    index = local_index(metadata=False)
    served = index.build("demo", "1.0", files={"demo/data.bin": bytes(range(256)) * 800})
    index.drop_connection(served.filename)
    reporter = CollectingReporter()

    async def job(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        return await client.download(dist, tmp_path / served.filename)

    assert run(settings(index.url), cache_dir, job, reporter) == served.sha256
    assert index.count(f"/files/{served.filename}") == 2
    assert any(isinstance(e, Retrying) for e in reporter.events)


def test_file_index_html_and_json(tmp_path: Path, cache_dir: Path) -> None:
    wheels = [build_wheel(tmp_path / "w", "demo", v, requires_python=">=3.8") for v in ("1.0", "2.0")]
    for json_pages in (False, True):
        url = make_file_index(tmp_path / f"tree-{json_pages}", wheels, json_pages=json_pages)

        async def job(client: IndexClient):
            result = await client.project("demo")
            meta = await client.metadata(result.files[-1])
            digest = await client.download(result.files[0], tmp_path / "out" / f"{json_pages}.whl")
            return result, meta, digest, await client.project("absent")

        result, meta, digest, absent = run(settings(url), cache_dir, job)
        assert filenames(result) == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
        assert result.files[0].url.startswith("file://") and result.files[0].requires_python == ">=3.8"
        assert str(meta.version) == "2.0"
        assert digest == hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        assert isinstance(absent, ProjectNotFound)


def test_file_index_from_config_path(tmp_path: Path, cache_dir: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    make_file_index(tmp_path / "tree", [wheel])
    config = resolve_index_settings(index_url=str(tmp_path / "tree" / "simple"), offline=True)
    assert filenames(run(config, cache_dir, lambda c: c.project("demo"))) == ["demo-1.0-py3-none-any.whl"]


def test_flat_find_links_dir_and_page(local_index: IndexFactory, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    served = index.build("remote", "3.0")
    page = tmp_path / "links.html"
    page.write_text(f'<html><body><a href="{index.file_url(served.filename)}#sha256={served.sha256}">x</a></body></html>')
    links = make_find_links_dir(
        tmp_path / "links",
        [build_wheel(tmp_path / "w", "local-pkg", "1.0"), build_sdist(tmp_path / "w", "local-pkg", "1.1")],
    )
    (links / "notes.txt").write_text("not a distribution")
    config = settings(find_links=(links.as_uri(), page.as_uri()))

    async def job(client: IndexClient):
        local, remote = await asyncio.gather(client.project("local_pkg"), client.project("remote"))
        digest = await client.download(remote.files[0], tmp_path / "out.whl")
        return local, remote, digest

    local, remote, digest = run(config, cache_dir, job)
    assert filenames(local) == ["local_pkg-1.0-py3-none-any.whl", "local_pkg-1.1.tar.gz"]
    assert local.index is None and local.files[0].index == links.as_uri()
    assert local.files[0].size == (links / "local_pkg-1.0-py3-none-any.whl").stat().st_size
    assert remote.files[0].hashes == {"sha256": served.sha256} and digest == served.sha256


def test_offline_with_and_without_cache(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()  # pages are stale at once: online runs revalidate
    index.build("demo", "1.0")
    online = settings(index.url)
    offline = settings(index.url, offline=True)

    async def job(client: IndexClient):
        result = await client.project("demo")
        await client.metadata(result.files[0])
        return result, await client.project("absent")

    run(online, cache_dir, job)
    before = len(index.requests)
    result, absent = run(offline, cache_dir, job)
    assert filenames(result) == ["demo-1.0-py3-none-any.whl"]
    assert isinstance(absent, ProjectNotFound)  # the cached 404 answers offline too
    assert len(index.requests) == before

    with pytest.raises(OfflineCacheMiss) as excinfo:
        run(offline, cache_dir, lambda c: c.project("never-fetched"))
    assert "`never-fetched`" in excinfo.value.message and f"`{index.url}never-fetched/`" in excinfo.value.message
    assert len(index.requests) == before


def test_credentials_never_leak(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    secret = "Top-Secret-Token-42"
    index = local_index(auth=("ci", secret), relative_urls=False)
    index.build("demo", "1.0")
    served = index.build("demo", "2.0")
    reporter = CollectingReporter()

    async def job(client: IndexClient):
        result = await client.project("demo")
        meta = await client.metadata(result.files[0])
        digest = await client.download(result.files[1], tmp_path / served.filename)
        return result, meta, digest, await client.project("absent")

    result, meta, digest, absent = run(settings(index.auth_url), cache_dir, job, reporter)
    assert digest == served.sha256 and str(meta.version) == "1.0"
    assert all(r.status != 401 for r in index.requests)  # credentials went with every request
    shown = repr(result) + repr(absent) + repr(reporter.events)
    assert secret not in shown and "ci:" not in shown
    assert result.index == f"http://****@127.0.0.1:{index.port}/simple/"
    for path in cache_dir.rglob("*"):
        assert secret not in str(path)
        if path.is_file():
            assert secret.encode() not in path.read_bytes()

    index.fail(times=100, status=500)
    with pytest.raises(IndexUnavailable) as excinfo:
        run(settings(index.auth_url), cache_dir, lambda c: c.project("other"), reporter)
    assert secret not in str(excinfo.value.to_dict()) and secret not in repr(reporter.events)


def test_concurrent_projects_share_requests(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index()
    for i in range(8):
        index.build(f"pkg{i}", "1.0")
    index.delay = 0.05

    async def job(client: IndexClient):
        names = [f"pkg{i}" for i in range(8)] + ["PKG0", "Pkg1"]
        return await asyncio.gather(*(client.project(n) for n in names))

    results = run(settings(index.url), cache_dir, job)
    assert [r.name for r in results] == [f"pkg{i}" for i in range(8)] + ["pkg0", "pkg1"]
    assert all(isinstance(r, ProjectFiles) and len(r.files) == 1 for r in results)
    assert index.count("/simple/pkg0/") == 1 and index.count("/simple/pkg1/") == 1
    assert index.max_in_flight > 1  # the lookups really overlapped


def test_broken_page_is_reported(local_index: IndexFactory, cache_dir: Path, tmp_path: Path) -> None:
    index = local_index()
    index.page_overrides["demo"] = (b'{"files": 3', "application/vnd.pypi.simple.v1+json")
    with pytest.raises(IndexUnavailable, match="not a valid simple-API page") as excinfo:
        run(settings(index.url), cache_dir, lambda c: c.project("demo"))
    assert f"`{index.url}demo/`" in excinfo.value.message

    url = make_file_index(tmp_path / "tree", [build_wheel(tmp_path / "w", "demo", "1.0")], json_pages=True)
    (tmp_path / "tree" / "simple" / "demo" / "index.json").write_text("[]")
    with pytest.raises(IndexUnavailable, match="index.json"):
        run(settings(url), cache_dir, lambda c: c.project("demo"))


def test_project_can_keep_only_some_versions(local_index, cache_dir) -> None:
    from packaging.specifiers import SpecifierSet

    from pyx_server.engine.install.selector import PinnedVersions

    index = local_index()
    index.build("demo", "1.0")
    index.build("demo", "1.0+cpu")
    index.build("demo", "2.0")
    settings = IndexSettings(indexes=(index.url,), find_links=())

    async def go():
        async with IndexClient(settings, Cache(cache_dir)) as client:
            only = await client.project("demo", versions=PinnedVersions(SpecifierSet("==1.0")))
            every = await client.project("demo")
        return only, every

    only, every = asyncio.run(go())
    assert sorted(f.filename for f in only.files) == ["demo-1.0+cpu-py3-none-any.whl", "demo-1.0-py3-none-any.whl"]
    assert len(every.files) == 3


@pytest.mark.parametrize(
    "ranges, metadata_last",
    [(True, True), (True, False), (False, True)],
    ids=["ranges", "ranges-metadata-first", "no-ranges"],
)
def test_metadata_without_pep658_reads_only_part_of_a_big_wheel(local_index, cache_dir, tmp_path, ranges, metadata_last) -> None:
    import os

    index = local_index(metadata=False)
    index.ranges = ranges
    blob = {"bigpkg/blob.bin": os.urandom(3_000_000)}
    big = build_wheel(tmp_path / "w", "bigpkg", "1.0", requires_dist=["dep>=2"],
                      files={"bigpkg/__init__.py": "", **(blob if metadata_last else {})},
                      raw_members=None if metadata_last else blob)  # raw members come after .dist-info
    index.add(big)
    settings = IndexSettings(indexes=(index.url,), find_links=())

    async def go():
        async with IndexClient(settings, Cache(cache_dir)) as client:
            page = await client.project("bigpkg")
            return await client.metadata(page.files[0])

    meta = asyncio.run(go())
    assert [str(r) for r in meta.requires_dist] == ["dep>=2"]
    requests = index.requests_to(f"/files/{big.name}")
    if not ranges:
        assert [r.status for r in requests] == [200]
    elif metadata_last:  # the tail holds the directory and the member
        assert [r.status for r in requests] == [206]
    else:  # the tail, then the member
        assert [r.status for r in requests] == [206, 206]


def test_metadata_by_ranges_with_a_central_directory_beyond_the_tail(local_index, cache_dir, tmp_path) -> None:
    index = local_index(metadata=False)
    many = {f"manypkg/module_with_a_long_name_{i:05d}.py": "" for i in range(2500)}
    wheel = build_wheel(tmp_path / "w", "manypkg", "1.0", requires_dist=["dep"], files={"manypkg/__init__.py": "", **many})
    index.add(wheel)
    settings = IndexSettings(indexes=(index.url,), find_links=())

    async def go():
        async with IndexClient(settings, Cache(cache_dir)) as client:
            page = await client.project("manypkg")
            return await client.metadata(page.files[0])

    assert [str(r) for r in asyncio.run(go()).requires_dist] == ["dep"]
    assert len(index.requests_to(f"/files/{wheel.name}")) == 3  # tail, directory, member


def test_parsed_page_is_reused_while_the_body_is_the_same(
    local_index: IndexFactory, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyx_server.engine.index.client as index_module

    parses: list[str] = []
    real_parse = index_module.parse_project_page

    def counting_parse(*args, **kwargs):
        parses.append(args[4])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(index_module, "parse_project_page", counting_parse)
    index = local_index(cache_control=None, etag=False)  # every lookup refetches the whole page
    index.build("demo", "1.0")
    config = settings(index.url)
    stored = Cache(cache_dir).bucket(Bucket.SIMPLE) / digest(index.url) / "demo.parsed"

    first = run(config, cache_dir, lambda c: c.project("demo"))
    assert parses == ["demo"] and stored.is_file()
    again = run(config, cache_dir, lambda c: c.project("demo"))
    assert parses == ["demo"] and index.count("/simple/demo/") == 2  # fetched, not parsed
    assert again.files == first.files

    # a changed page is parsed, and its parse replaces the stored one
    index.build("demo", "2.0")
    assert filenames(run(config, cache_dir, lambda c: c.project("demo"))) == [
        "demo-1.0-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    ]
    assert parses == ["demo", "demo"]
    run(config, cache_dir, lambda c: c.project("demo"))
    assert parses == ["demo", "demo"]

    # a damaged stored page is a miss, parsed again and replaced
    stored.write_bytes(stored.read_bytes()[:-10])
    assert len(run(config, cache_dir, lambda c: c.project("demo")).files) == 2
    assert parses == ["demo", "demo", "demo"]
    run(config, cache_dir, lambda c: c.project("demo"))
    assert parses == ["demo", "demo", "demo"]

    # a lookup of some versions only uses the stored page, but never stores a filtered one
    from packaging.specifiers import SpecifierSet

    from pyx_server.engine.install.selector import PinnedVersions

    only = run(config, cache_dir, lambda c: c.project("demo", versions=PinnedVersions(SpecifierSet("==2.0"))))
    assert filenames(only) == ["demo-2.0-py3-none-any.whl"] and parses == ["demo", "demo", "demo"]
    stored.unlink()
    run(config, cache_dir, lambda c: c.project("demo", versions=PinnedVersions(SpecifierSet("==2.0"))))
    assert not stored.exists()


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_metadata_fields_come_from_the_headers_only(newline: str) -> None:
    from pyx_server.engine.index.coremetadata import parse_metadata
    from pyx_server.engine.index.distfile import DistFile

    text = newline.join([
        "Metadata-Version: 2.1",
        "Name: demo",
        "Version: 1.0",
        "Requires-Dist: dep>=1",
        "Requires-Python: >=3.9",
        "",
        "Requires-Dist: not-a-header  (the README quotes a header line)",
        "",
        "Provides-Extra: nor-this",
    ])
    file = DistFile("demo-1.0-py3-none-any.whl", "https://files.example/demo-1.0-py3-none-any.whl", "https://index.example/")
    meta = parse_metadata(text.encode(), file)
    assert [str(r) for r in meta.requires_dist] == ["dep>=1"]
    assert str(meta.requires_python) == ">=3.9" and not meta.provides_extra
    # a file with no body parses whole
    assert [str(r) for r in parse_metadata(text.split(newline * 2)[0].encode(), file).requires_dist] == ["dep>=1"]


def test_dependency_fields_are_derived_once_per_metadata_file(
    local_index: IndexFactory, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyx_server.engine.index.coremetadata as metadata_module

    parses: list[str] = []
    real_parse = metadata_module.parse_metadata

    def counting_parse(data, file):
        parses.append(file.filename)
        return real_parse(data, file)

    monkeypatch.setattr(metadata_module, "parse_metadata", counting_parse)
    index = local_index()
    index.build("demo", "1.0", requires_dist=["dep>=2", 'extra-dep; extra == "fast"'], requires_python=">=3.8", extras=["Fast"])
    config = settings(index.url)

    async def fields(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        return await client.dependency_fields(dist)

    first = run(config, cache_dir, fields)
    assert first.requires_dist == ("dep>=2", 'extra-dep; extra == "fast"')
    assert first.requires_python == ">=3.8" and first.provides_extra == ("fast",)
    assert len(parses) == 1  # fetched, parsed, both stored
    assert run(config, cache_dir, fields) == first and len(parses) == 1  # neither fetched nor parsed

    cache = Cache(cache_dir)
    stored = cache.bucket(Bucket.DEPENDENCIES) / digest(index.url) / "demo" / "demo-1.0-py3-none-any.whl.json"
    metadata = cache.bucket(Bucket.METADATA) / digest(index.url) / "demo" / "demo-1.0-py3-none-any.whl.metadata"
    # a damaged summary, or one of other metadata bytes, is a miss: derived again from the metadata
    for damage in (lambda: stored.write_text("{not json"), lambda: stored.write_text('{"format": 1}')):
        damage()
        assert run(config, cache_dir, fields) == first
    assert len(parses) == 3
    # other metadata bytes (here: not the ones the index's PEP 658 hash names, so fetched
    # again) are summarised again; the summary follows the bytes, not the file name
    metadata.write_bytes(metadata.read_bytes().replace(b"dep>=2", b"dep>=3"))
    assert run(config, cache_dir, fields) == first and len(parses) == 4
    assert run(config, cache_dir, fields) == first and len(parses) == 4


def test_dependency_fields_follow_the_metadata_bytes(local_index: IndexFactory, cache_dir: Path) -> None:
    index = local_index(metadata=False)  # no PEP 658 hash: the cached METADATA is trusted as it is
    index.build("demo", "1.0", requires_dist=["dep>=2"])
    config = settings(index.url)

    async def fields(client: IndexClient):
        (dist,) = (await client.project("demo")).files
        return await client.dependency_fields(dist)

    assert run(config, cache_dir, fields).requires_dist == ("dep>=2",)
    metadata = Cache(cache_dir).bucket(Bucket.METADATA) / digest(index.url) / "demo" / "demo-1.0-py3-none-any.whl.metadata"
    metadata.write_bytes(metadata.read_bytes().replace(b"dep>=2", b"dep>=3"))
    assert run(config, cache_dir, fields).requires_dist == ("dep>=3",)  # not the stored summary of other bytes
