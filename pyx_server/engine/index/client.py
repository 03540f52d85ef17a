"""The index client: which files a project has, their metadata, and the files themselves.

``IndexClient`` asks the configured indexes in priority order (``IndexSettings.indexes``:
extra indexes first). Under the default "first-index" strategy the first index that knows a
name supplies all of its files and later indexes are not asked, so a public project can
never shadow a private one of the same name; "unsafe-first-match" and "unsafe-best-match"
(uv's names) ask every index and merge, earlier indexes first. Files from find-links
locations (flat directories, HTML pages) are always merged in, ahead of index files; a file
name seen twice is kept from the first source only.

A name no source knows is a value (``ProjectNotFound``), not an exception; an index that
cannot be reached raises ``IndexUnavailable``. Metadata comes from PEP 658 files whenever the
index offers them (hash-checked, cached for good in ``metadata-v1``), otherwise from the
wheel itself. Project lookups are shared within one client: concurrent calls for the same
name make one request.

Work derived from cached bytes is cached too, keyed by those bytes' sha256, so it can never
outlive them: the parse of a project page (``<name>.parsed`` beside the page in
``simple-v2``; an index without validators sends the same bytes on every run, and parsing
numpy's 1.9 MB page cost more than fetching it) and what resolving reads of a metadata
file (``dependencies-v1``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from pyx_server.engine.cache import Bucket, Cache, atomic_write_bytes, atomic_write_json, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import HashMismatch, IndexUnavailable
from pyx_server.engine.index import coremetadata
from pyx_server.engine.index.coremetadata import DependencyFields
from pyx_server.engine.index.http import (
    DEFAULT_BACKOFF,
    HttpClient,
    HttpResponse,
    file_url_to_path,
)
from pyx_server.engine.loop import running_loop
from pyx_server.engine.progress import Notice, Reporter
from pyx_server.engine.index.distfile import DistFile
from pyx_server.engine.index.page import ProjectPage, Release, dump_page, load_page, merge_releases
from pyx_server.engine.index.simple import (
    ACCEPT,
    links_variants,
    parse_directory_listing,
    parse_links,
    parse_project_page,
)

if TYPE_CHECKING:
    from packaging.metadata import Metadata


#: The longest project name looked up. A name is a file name in a ``file://`` index and in the
#: cache (with suffixes such as ``.parsed`` and a temporary file's ``.body.<random>.tmp``), and
#: file systems refuse names over 255 bytes; a longer name cannot be a project anywhere pyx
#: looks, so it is simply not found (no ``File name too long`` or ``URL too long`` error).
_LONGEST_NAME = 200


@dataclass(frozen=True)
class ProjectFiles:
    """Every file pyx may consider for a project (find-links files first, then index files).

    A file name listed twice keeps its first listing. ``files`` makes a ``DistFile`` of every
    file on first use; ``releases`` gives the files of each version in brief, which is all a
    resolution needs until it has chosen.
    """

    name: NormalizedName
    #: redacted URL of the index that answered (the first one, for the unsafe strategies);
    #: None when only find-links locations had files
    index: str | None
    #: every index that answered, in priority order (one under "first-index")
    indexes: tuple[str, ...] = ()
    #: PEP 700 ``versions`` reported by the answering indexes (may include versions without files)
    versions: tuple[str, ...] = ()
    #: PEP 825 variant wheels and ``variants.json`` files of the answering indexes (kept out of
    #: ``files``: only variant-aware callers, such as the GPU listing, judge them)
    variant_wheels: tuple[DistFile, ...] = ()
    variants_json: tuple[DistFile, ...] = ()
    #: where the files come from, in priority order: find-links files, then each index's page
    pages: tuple[ProjectPage, ...] = ()

    @cached_property
    def files(self) -> tuple[DistFile, ...]:
        if len(self.pages) == 1:
            return self.pages[0].files
        seen: set[str] = set()
        files: list[DistFile] = []
        for page in self.pages:
            for dist in page.files:
                if dist.filename not in seen:
                    seen.add(dist.filename)
                    files.append(dist)
        return tuple(files)

    def releases(self) -> dict[Version, Release]:
        """The files of each version (``simple.Release``), made into no ``DistFile`` yet."""
        return merge_releases(self.pages)


@dataclass(frozen=True)
class ProjectNotFound:
    """No index and no find-links location knows the name: an expected miss, not an error."""

    name: NormalizedName
    #: redacted locations that were searched, in order
    searched: tuple[str, ...]


class IndexClient:
    """Index access for one operation; use as ``async with IndexClient(settings, cache) as index``.

    ``retries``, ``backoff``, ``timeout`` and ``concurrency`` are handed to the HTTP layer
    (``concurrency`` defaults to ``PYX_CONCURRENT_DOWNLOADS`` or 16).
    """

    def __init__(
        self,
        settings: IndexSettings,
        cache: Cache,
        reporter: Reporter | None = None,
        *,
        retries: int | None = None,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float | None = None,
        concurrency: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.reporter = reporter or Reporter()
        self.http = HttpClient(
            reporter=self.reporter,
            offline=settings.offline,
            cert=settings.cert,
            concurrency=concurrency,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            env=env,
        )
        # credentials of configured locations apply to every URL on the same host
        for location in (*settings.indexes, *settings.find_links):
            self.http.remember_credentials(location)
        self._projects: dict[tuple[NormalizedName, Container[Version] | None], asyncio.Future[ProjectFiles | ProjectNotFound]] = {}
        self._flat: asyncio.Future[tuple[DistFile, ...]] | None = None

    async def __aenter__(self) -> IndexClient:
        await running_loop()  # page and file requests run on the event loop
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel lookups nobody awaits any more and close the connections."""
        for future in [*self._projects.values(), self._flat]:
            if future is not None and not future.done():
                future.cancel()
        await self.http.aclose()

    # -- projects -------------------------------------------------------------------------

    async def project(
        self, name: str, *, versions: Container[Version] | None = None
    ) -> ProjectFiles | ProjectNotFound:
        """The files of ``name`` per the index strategy, or ``ProjectNotFound`` listing where we looked.

        ``versions`` keeps only the files of those versions (the index strategy is unchanged:
        an index that knows the name answers for it even if it lacks the version).
        """
        key = (canonicalize_name(name), versions)
        future = self._projects.get(key)
        if future is None:
            future = asyncio.ensure_future(self._lookup(key[0], versions))
            self._projects[key] = future
            future.add_done_callback(lambda f, k=key: self._forget_failure(k, f))
        return await asyncio.shield(future)

    def _forget_failure(self, key: tuple, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            if self._projects.get(key) is future:
                del self._projects[key]

    async def _lookup(self, name: NormalizedName, versions: Container[Version] | None) -> ProjectFiles | ProjectNotFound:
        use_flat = bool(self.settings.find_links_for(name))
        flat_task = asyncio.ensure_future(self._flat_files() if use_flat else _nothing())
        try:
            pages = await self._index_pages(name, versions)
            flat = [f for f in await flat_task if f.name == name and (versions is None or f.version in versions)]
        finally:
            if not flat_task.done():
                flat_task.cancel()
            elif not flat_task.cancelled():
                flat_task.exception()  # retrieved: an index error already propagates
        if not pages and not flat:
            searched = tuple(redact_url(u) for u in (*self.settings.indexes_for(name), *self.settings.find_links_for(name)))
            return ProjectNotFound(name=name, searched=searched)
        versions: list[str] = []
        for page in pages:
            versions += [v for v in page.versions if v not in versions]
        sources = [ProjectPage.from_files(name, flat, "")] if flat else []
        return ProjectFiles(
            name=name,
            index=pages[0].source if pages else None,
            indexes=tuple(page.source for page in pages),
            versions=tuple(versions),
            variant_wheels=tuple(f for page in pages for f in page.variant_wheels),
            variants_json=tuple(f for page in pages for f in page.variants_json),
            pages=(*sources, *pages),
        )

    async def _index_pages(self, name: NormalizedName, versions: Container[Version] | None) -> list[ProjectPage]:
        indexes = self.settings.indexes_for(name)
        if self.settings.strategy == "first-index":
            for index in indexes:
                page = await self._index_page(index, name, versions)
                if page is not None:
                    return [page]
            return []
        found = await asyncio.gather(*(self._index_page(index, name, versions) for index in indexes))
        return [page for page in found if page is not None]

    async def _index_page(
        self, index: str, name: NormalizedName, versions: Container[Version] | None = None
    ) -> ProjectPage | None:
        """One index's page for ``name``, or None when that index does not know it."""
        if len(name.encode("utf-8")) > _LONGEST_NAME:
            return None
        source = redact_url(index)
        base = index if index.endswith("/") else index + "/"
        url = f"{base}{name}/"
        if urlsplit(index).scheme == "file":
            return self._local_index_page(base, name, source, versions)
        entry = self.cache.bucket(Bucket.SIMPLE) / digest(source) / name
        response = await self.http.get(
            url, cache_entry=entry, accept=ACCEPT, subject=f"the index page of `{name}`"
        )
        if response.not_found:
            return None
        # the page as parsed from these same bytes before, if it was (simple.load_page)
        parsed = entry.with_name(f"{name}.parsed")
        variants = links_variants(response.content)  # PEP 825 pages are parsed whole each time
        page = None if variants else self._stored_page(parsed, response, source)
        if page is not None:
            return page if versions is None else page.only(versions)
        try:
            page = parse_project_page(response.content, response.content_type, response.url, source, name, versions)
        except ValueError as exc:
            raise IndexUnavailable(
                f"`{redact_url(url)}` answered with a page that is not a valid simple-API page",
                context={"url": redact_url(url), "content-type": response.content_type or ""},
                hints=["check that the index URL points at a PEP 503 / PEP 691 simple index"],
                detail=str(exc),
            ) from None
        if versions is None and response.sha256 is not None and not variants:  # a filtered page is not the page
            try:
                atomic_write_bytes(parsed, dump_page(page, response.sha256, response.url))
            except ValueError:
                pass  # facts that are not plain values (not from a JSON page): parsed again next time
        return page

    @staticmethod
    def _stored_page(path: Path, response: HttpResponse, source: str) -> ProjectPage | None:
        if response.sha256 is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return load_page(data, response.sha256, response.url, source)

    def _local_index_page(
        self, base: str, name: NormalizedName, source: str, versions: Container[Version] | None = None
    ) -> ProjectPage | None:
        directory = file_url_to_path(base) / name
        for filename, content_type in (
            ("index.json", "application/vnd.pypi.simple.v1+json"),
            ("index.html", "text/html"),
        ):
            path = directory / filename
            try:
                found = path.is_file()
            except OSError:  # ENAMETOOLONG: a name that cannot be a file name is simply not there
                return None
            if found:
                try:
                    return parse_project_page(path.read_bytes(), content_type, path.as_uri(), source, name, versions)
                except ValueError as exc:
                    raise IndexUnavailable(
                        f"`{path}` is not a valid simple-API page",
                        context={"path": str(path)},
                        detail=str(exc),
                    ) from None
        return None

    # -- find-links -----------------------------------------------------------------------

    async def _flat_files(self) -> tuple[DistFile, ...]:
        """Every file of every find-links location, read once per client."""
        if self._flat is None:
            self._flat = asyncio.ensure_future(self._read_flat())
        future = self._flat
        try:
            return await asyncio.shield(future)
        except BaseException:
            if future.done() and (future.cancelled() or future.exception() is not None):
                self._flat = None
            raise

    async def _read_flat(self) -> tuple[DistFile, ...]:
        found = await asyncio.gather(*(self._read_location(loc) for loc in self.settings.find_links))
        return tuple(f for files in found for f in files)

    async def _read_location(self, location: str) -> Iterable[DistFile]:
        source = redact_url(location)
        if urlsplit(location).scheme == "file":
            path = file_url_to_path(location)
            if path.is_dir():
                sizes: dict[str, int] = {}
                for entry in os.scandir(path):
                    if entry.is_file():
                        sizes[entry.name] = entry.stat().st_size
                return parse_directory_listing(sizes, path.as_uri() + "/", source, sizes)
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                return parse_links(text, path.as_uri(), source)
            self.reporter.report(Notice(f"find-links location `{source}` does not exist; skipped", level="warning",
                                        code="find-links-missing"))
            return ()
        entry = self.cache.bucket(Bucket.SIMPLE) / digest(source) / "_find-links"
        response = await self.http.get(location, cache_entry=entry, subject="the find-links page")
        if response.not_found:
            self.reporter.report(Notice(f"find-links page `{source}` was not found (HTTP 404); skipped", level="warning",
                                        code="find-links-missing"))
            return ()
        text = response.content.decode("utf-8", "replace")
        return parse_links(text, response.url, source)

    # -- metadata -------------------------------------------------------------------------

    async def metadata(self, file: DistFile) -> Metadata:
        """The core metadata of ``file``: its PEP 658 file when offered, else read from the file.

        A wheel's ``*.dist-info/METADATA`` is used when no metadata file is offered; an sdist
        only if its ``PKG-INFO`` is static (Metadata-Version 2.2+, dependencies not dynamic),
        otherwise it must be built and ``InvalidMetadata`` says so.
        """
        data, parsed = await self._metadata_bytes(file)
        return parsed if parsed is not None else coremetadata.parse_metadata(data, file)

    async def dependency_fields(self, file: DistFile) -> DependencyFields:
        """What resolving reads of ``file``'s core metadata: ``metadata``, in short.

        Derived once from the cached metadata file and stored beside it in
        ``dependencies-v1``, keyed by that file's sha256: a warm resolve then reads a few
        lines of JSON instead of running the email parser over every candidate's metadata.
        """
        data, parsed = await self._metadata_bytes(file)
        sha256 = hashlib.sha256(data).hexdigest()
        entry = self.cache.bucket(Bucket.DEPENDENCIES) / digest(file.index) / file.name / f"{file.filename}.json"
        if parsed is None:
            fields = DependencyFields.load(entry, sha256)
            if fields is not None:
                return fields
            parsed = coremetadata.parse_metadata(data, file)
        fields = DependencyFields.of(parsed)
        if urlsplit(file.url).scheme in ("http", "https"):
            atomic_write_json(entry, fields.dump(sha256))
        return fields

    async def _metadata_bytes(self, file: DistFile) -> tuple[bytes, Metadata | None]:
        """The metadata file's bytes, from the cache when it holds them (already checked
        against the listing's hash), else fetched, parsed (so checked) and stored: then
        also their parse."""
        remote = urlsplit(file.url).scheme in ("http", "https")
        entry = (
            self.cache.bucket(Bucket.METADATA) / digest(file.index) / file.name / f"{file.filename}.metadata"
        )
        if remote and entry.is_file():
            data = entry.read_bytes()
            if coremetadata.hashes_match(file.metadata, data):
                return data, None
            entry.unlink(missing_ok=True)
        data = None
        if file.metadata is not False and file.metadata_url:
            data = await self._fetch_metadata_file(file)
        if data is None:
            data = await self._metadata_from_file(file)
        result = coremetadata.parse_metadata(data, file)
        if remote:
            atomic_write_bytes(entry, data)
        return data, result

    async def _fetch_metadata_file(self, file: DistFile) -> bytes | None:
        assert file.metadata_url is not None
        response = await self.http.get(file.metadata_url, subject=f"the metadata of `{file.filename}`")
        if response.not_found:
            return None  # offered but absent: fall back to the file itself
        data = response.content
        if not coremetadata.hashes_match(file.metadata, data):
            expected = file.metadata if isinstance(file.metadata, Mapping) else {}
            algorithm = "sha256" if "sha256" in expected else next(iter(expected))
            actual = hashlib.new(algorithm, data).hexdigest()
            raise HashMismatch(
                f"hash mismatch for `{file.filename}.metadata`: expected {algorithm} "
                f"`{expected[algorithm]}`, got `{actual}`",
                context={
                    "file": f"{file.filename}.metadata",
                    "url": redact_url(file.metadata_url),
                    "expected": expected[algorithm],
                    "actual": actual,
                },
                hints=["the index serves a metadata file that does not match its own listing"],
            )
        return data

    async def _metadata_from_file(self, file: DistFile) -> bytes:
        if urlsplit(file.url).scheme == "file":
            return coremetadata.read_archive_metadata(file_url_to_path(file.url), file)
        if file.is_wheel:
            data = await self._metadata_by_range(file)
            if data is not None:
                return data
        with self.cache.temp_dir(prefix="metadata-") as tmp:
            path = tmp / file.filename
            await self.download(file, path)
            return coremetadata.read_archive_metadata(path, file)

    async def _metadata_by_range(self, file: DistFile) -> bytes | None:
        """A wheel's METADATA read with HTTP range requests: the zip's central directory from
        the file's tail, then the one member (what uv does when an index offers no PEP 658 file).
        Build backends write ``.dist-info`` last, so the member is often in the tail already,
        and then the tail is all it takes.

        None when the server or the archive does not allow it (the caller downloads the wheel).
        """
        from pyx_server.engine.index.zipranges import RangeUnsupported, find_member, member_span, read_member

        try:
            status, tail, total = await self.http.get_range(file.url, None, _TAIL)
            if status == 200 or (total is not None and len(tail) >= total):  # the whole wheel
                return coremetadata.metadata_from_zip(tail, file)
            if total is None:
                return None
            entry = await find_member(tail, total, file, self.http.get_range)
            offset = entry.local_header_offset - (total - len(tail))
            if offset >= 0:
                try:
                    return read_member(tail[offset:], entry)
                except RangeUnsupported:
                    pass  # the member runs past the end of what the tail holds: ask for it
            start, end = member_span(entry)
            _, chunk, _ = await self.http.get_range(file.url, start, end)
            return read_member(chunk, entry)
        except RangeUnsupported:
            return None

    # -- downloads ------------------------------------------------------------------------

    async def download_bytes(self, file: DistFile) -> tuple[bytes | memoryview, str]:
        """Fetch ``file`` into memory, verify its listed hashes: (content, sha256)."""
        return await self.http.download_bytes(
            file.url, name=file.name, version=str(file.version), hashes=file.hashes, size=file.size
        )

    async def download(self, file: DistFile, dest: Path) -> str:
        """Fetch ``file`` to ``dest`` (http(s) or file://), verify its listed hashes, return its sha256."""
        return await self.http.download(
            file.url,
            dest,
            name=file.name,
            version=str(file.version),
            hashes=file.hashes,
            size=file.size,
        )


#: bytes fetched from a wheel's end: enough for the central directory of most wheels
_TAIL = 64 * 1024


__all__ = ["DependencyFields", "IndexClient", "ProjectFiles", "ProjectNotFound"]


async def _nothing() -> tuple[DistFile, ...]:
    return ()
