"""The resolver's ``MetadataProvider`` backed by the index client: listings, metadata, prefetch.

The solver is synchronous and runs in a worker thread; this provider answers it from the
event loop that owns the ``IndexClient``. Every provider call hands a coroutine to that loop
(``run_coroutine_threadsafe``) and waits for its answer; all bookkeeping (which listings and
which metadata files are being fetched) lives on the loop, so nothing needs a lock.
``prefetch`` starts fetches without waiting, so while the solver thinks, the loop is already
downloading the listings and metadata it will ask for next: a cold resolution costs about one
round trip per layer of the dependency graph, not one per package.

For each version the provider picks the one file it would install on the target interpreter
(the best-ranked compatible wheel, else the sdist) and reads that file's metadata (PEP 658
file, or the wheel itself); an sdist's metadata comes from ``sdist_metadata`` (static
``PKG-INFO`` or a PEP 517 build), injected by the caller. ``chosen_file`` tells the installer
which file stood behind each resolved version.

Picking works on the index's briefs of the files (``simple.Release``), with each distinct
tag triple ranked once: a ``DistFile`` is made only of the files the solver asks about.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from pyx_server.engine.errors import InvalidMetadata, PyxError
from pyx_server.engine.index.client import IndexClient, ProjectNotFound
from pyx_server.engine.index.coremetadata import DependencyFields
from pyx_server.engine.resolver.provider import (
    Candidate,
    Dependencies,
    DependenciesResult,
    Found,
    NotFound,
    PrefetchHint,
    Unavailable,
    VersionsResult,
)
from pyx_server.engine.index.distfile import DistFile, wheel_tags
from pyx_server.engine.index.page import FILENAME, REQUIRES_PYTHON, TAGS, YANKED, YANKED_REASON, Brief, Release

if TYPE_CHECKING:
    from packaging.metadata import Metadata

#: ``(sdist DistFile or source-tree Path, index client) -> core metadata`` (a PEP 517 build)
SdistMetadata = Callable[..., Awaitable["Metadata"]]


class IndexMetadataProvider:
    """Answers the solver (in its thread) from ``client`` (on ``loop``), with prefetching."""

    def __init__(
        self,
        client: IndexClient,
        loop: asyncio.AbstractEventLoop,
        interpreter,
        *,
        sdist_metadata: SdistMetadata | None = None,
        direct_files: dict[NormalizedName, DistFile] | None = None,
        direct_trees: dict[NormalizedName, Path] | None = None,
        builds: Callable[[str], bool] = lambda name: True,
        binaries: Callable[[str], bool] = lambda name: True,
        upload_times: bool = True,
    ) -> None:
        self.client = client
        self.loop = loop
        self.interpreter = interpreter
        self.sdist_metadata = sdist_metadata
        #: files behind direct URL / path requirements, prepared by the caller
        self.direct_files = dict(direct_files or {})
        #: source trees behind ``name @ file:///dir`` / ``./dir`` requirements
        self.direct_trees = dict(direct_trees or {})
        self._tree_metadata: dict[NormalizedName, Metadata] = {}
        #: ``--no-build`` / ``--no-binary`` as predicates on a package name
        self.builds = builds
        self.binaries = binaries
        #: whether candidates carry upload times: only ``--exclude-newer`` reads them, and
        #: parsing one per file costs more than the rest of a listing
        self.upload_times = upload_times
        # loop-side state
        self._projects: dict[NormalizedName, asyncio.Task] = {}
        self._metadata: dict[tuple[NormalizedName, Version], asyncio.Task] = {}
        self._releases: dict[NormalizedName, dict[Version, Release]] = {}
        #: per version, the position in its release's files of the file chosen to install
        self._best: dict[NormalizedName, dict[Version, int]] = {}
        self._chosen: dict[tuple[NormalizedName, Version], DistFile] = {}
        #: tag triple (as a wheel name writes it) → the interpreter's rank for it, or None
        self._ranks: dict[str, int | None] = {}
        self._pending: set[concurrent.futures.Future] = set()

    # -- the MetadataProvider protocol (called from the solver's thread) -------------------

    def versions(self, name: NormalizedName) -> VersionsResult:
        return self._call(self._versions(name))

    def direct(self, name: NormalizedName, url: str) -> VersionsResult:
        return self._call(self._direct(name, url))

    def dependencies(self, candidate: Candidate) -> DependenciesResult:
        return self._call(self._dependencies(candidate))

    def prefetch(self, hints: Sequence[PrefetchHint]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._prefetch(list(hints)), self.loop)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    # -- for the installer ----------------------------------------------------------------

    def chosen_file(self, name: str, version: Version) -> DistFile | None:
        """The file the provider read metadata from for ``name==version`` (what to install)."""
        key = canonicalize_name(name)
        if key in self.direct_files:
            return self.direct_files[key]
        return self._chosen_file(key, version)

    def files_of(self, name: str, version: Version) -> tuple[DistFile, ...]:
        """Every file of ``name==version`` the indexes listed (a lock's hashes cover them all)."""
        key = canonicalize_name(name)
        if key in self.direct_files:
            return (self.direct_files[key],)
        release = self._releases.get(key, {}).get(version)
        return release.dists() if release is not None else ()

    async def aclose(self) -> None:
        """Cancel prefetches nobody waited for (call on the loop when resolution is over)."""
        for task in [*self._projects.values(), *self._metadata.values()]:
            if not task.done():
                task.cancel()
        for task in [*self._projects.values(), *self._metadata.values()]:
            if not task.cancelled():
                try:
                    await task
                except BaseException:  # noqa: BLE001 - outcomes of abandoned prefetches
                    pass

    # -- loop side ------------------------------------------------------------------------

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def _project_task(self, name: NormalizedName) -> asyncio.Task:
        task = self._projects.get(name)
        if task is None:
            task = self._projects[name] = asyncio.ensure_future(self.client.project(name))
            task.add_done_callback(_retrieve)
        return task

    async def _versions(self, name: NormalizedName) -> VersionsResult:
        page = await self._project_task(name)
        if isinstance(page, ProjectNotFound):
            return NotFound()
        if name not in self._releases:
            self._releases[name] = page.releases()
        return Found(tuple(self._candidates(name, self._releases[name])))

    def _candidates(self, name: NormalizedName, releases: dict[Version, Release]) -> list[Candidate]:
        best: dict[Version, int] = {}
        candidates = []
        binaries, builds = self.binaries(name), self.builds(name) and self.sdist_metadata is not None
        for version, release in releases.items():
            group = release.files
            chosen, reason = self._pick(group, binaries, builds)
            if chosen is not None:
                best[version] = chosen
            reference = group[chosen if chosen is not None else 0]
            upload_time = None
            if self.upload_times:
                upload_time = min((t for t in release.upload_times() if t), default=None)
            candidates.append(
                Candidate(
                    name=name,
                    version=version,
                    yanked=all(f[YANKED] for f in group),
                    yanked_reason=next((f[YANKED_REASON] for f in group if f[YANKED_REASON]), None),
                    requires_python=_specifier(reference[REQUIRES_PYTHON]),
                    upload_time=upload_time,
                    unavailable=reason,
                )
            )
        self._best[name] = best
        return candidates

    def _pick(self, group: Sequence[Brief], binaries: bool, builds: bool) -> tuple[int | None, str | None]:
        """Which file to install for one version (best wheel, else an sdist), or why none."""
        usable = [i for i, f in enumerate(group) if not f[YANKED]] or range(len(group))
        best: tuple[int, str] | None = None
        chosen = None
        if binaries:
            ranks = self._ranks
            for i in usable:
                tags = group[i][TAGS]
                if tags is None:
                    continue
                if tags in ranks:
                    rank = ranks[tags]
                else:
                    rank = ranks[tags] = self.interpreter.supports(wheel_tags(tags))
                if rank is not None and (best is None or (rank, group[i][FILENAME]) < best):
                    best, chosen = (rank, group[i][FILENAME]), i
        if chosen is not None:
            return chosen, None
        sdists = sorted((i for i in usable if group[i][TAGS] is None), key=lambda i: not group[i][FILENAME].endswith(".tar.gz"))
        if sdists and builds:
            return sdists[0], None
        if sdists:
            return None, "has only a source distribution, and building from source is turned off"
        if not binaries and any(group[i][TAGS] is not None for i in usable):
            return None, "has only wheels, and using wheels is turned off for it (--no-binary)"
        return None, "has no wheels with a matching platform tag"

    def _chosen_file(self, name: NormalizedName, version: Version) -> DistFile | None:
        key = (name, version)
        file = self._chosen.get(key)
        if file is None:
            position = self._best.get(name, {}).get(version)
            if position is None:
                return None
            file = self._chosen[key] = self._releases[name][version].dist(position)
        return file

    def _metadata_task(self, name: NormalizedName, version: Version) -> asyncio.Task:
        key = (name, version)
        task = self._metadata.get(key)
        if task is None:
            task = self._metadata[key] = asyncio.ensure_future(self._fetch_dependencies(name, version))
            task.add_done_callback(_retrieve)
        return task

    async def _fetch_dependencies(self, name: NormalizedName, version: Version) -> DependenciesResult:
        if name not in self._best:
            await self._versions(name)
        file = self._chosen_file(name, version)
        if file is None:
            return Unavailable("has no file that can be installed here")
        return await self._read(file)

    async def _read(self, file: DistFile) -> DependenciesResult:
        try:
            if file.is_wheel:
                return _dependencies_of(await self.client.dependency_fields(file))
            assert self.sdist_metadata is not None
            metadata = await self.sdist_metadata(file, self.client)
        except InvalidMetadata as error:
            return Unavailable(f"has invalid metadata ({error.message})")
        except PyxError as error:
            if error.code in ("build-failed", "invalid-sdist"):
                return Unavailable(f"could not be built: {error.message}")
            raise
        return to_dependencies(metadata)

    async def _dependencies(self, candidate: Candidate) -> DependenciesResult:
        if candidate.url is not None and candidate.name in self._tree_metadata:
            return to_dependencies(self._tree_metadata[candidate.name])
        if candidate.url is not None:
            file = self.direct_files.get(candidate.name)
            if file is None:
                return Unavailable("is not a wheel pyx can read")
            return await self._read(file)
        return await self._metadata_task(candidate.name, candidate.version)

    async def _direct(self, name: NormalizedName, url: str) -> VersionsResult:
        tree = self.direct_trees.get(name)
        if tree is not None:
            if self.sdist_metadata is None:
                return NotFound(f"at `{tree}` is a source tree, and building from source is turned off")
            try:
                metadata = self._tree_metadata[name] = await self.sdist_metadata(tree, self.client)
            except PyxError as error:
                if error.code in ("build-failed", "invalid-sdist"):
                    return NotFound(f"at `{tree}` could not be built: {error.message}")
                raise
            if canonicalize_name(str(metadata.name)) != name:
                return NotFound(f"at `{tree}` is `{metadata.name}`, not `{name}`")
            return Found((Candidate(name=name, version=metadata.version, url=url),))
        file = self.direct_files.get(name)
        if file is None:
            file = direct_file(url)
            if file is None:
                return NotFound(f"at `{url}` is not a wheel or a source distribution")
            self.direct_files[name] = file
        if file.name != name:
            return NotFound(f"at `{url}` is `{file.name}`, not `{name}`")
        return Found((Candidate(name=name, version=file.version, url=url),))

    async def _prefetch(self, hints: list[PrefetchHint]) -> None:
        for hint in hints:
            if hint.versions:
                for version in hint.versions:
                    self._metadata_task(hint.name, version)
            else:
                self._project_task(hint.name)


def direct_file(url: str, hashes: dict[str, str] | None = None) -> DistFile | None:
    """A ``DistFile`` for a wheel or sdist named by URL (``file://`` for local paths)."""
    filename = unquote(urlsplit(url).path.rpartition("/")[2])
    file = DistFile(filename=filename, url=url.split("#", 1)[0], index="", hashes=dict(hashes or {}))
    try:
        file.version  # noqa: B018 - validates the name
    except ValueError:
        return None
    return file


def _dependencies_of(fields: DependencyFields) -> Dependencies:
    """The resolver's view of a wheel's metadata fields (already validated when stored)."""
    return Dependencies(
        requires=tuple(_requirement(r) for r in fields.requires_dist),
        requires_python=_specifier(fields.requires_python),
        provides_extras=frozenset(fields.provides_extra) if fields.provides_extra is not None else None,
    )


@functools.lru_cache(maxsize=4096)
def _requirement(text: str) -> Requirement:
    """Parsed once per distinct text: successive releases repeat most of their requirements."""
    return Requirement(text)


def to_dependencies(metadata: Metadata) -> Dependencies:
    """The resolver's view of core metadata (invalid ``Requires-Dist`` entries are an error)."""
    requires = tuple(r if isinstance(r, Requirement) else Requirement(str(r)) for r in (metadata.requires_dist or ()))
    extras = metadata.provides_extra
    return Dependencies(
        requires=requires,
        requires_python=metadata.requires_python,
        provides_extras=frozenset(canonicalize_name(e) for e in extras) if extras is not None else None,
    )


@functools.lru_cache(maxsize=1024)
def _specifier(text: str | None) -> SpecifierSet | None:
    """Parsed once per distinct string: hundreds of versions share a few ``Requires-Python``."""
    if not text:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None  # pip and uv ignore an unparsable Requires-Python


def _retrieve(task: asyncio.Future) -> None:
    """Mark a background task's exception as seen (its waiter, if any, gets it anyway)."""
    if not task.cancelled():
        task.exception()


__all__ = ["IndexMetadataProvider", "direct_file", "to_dependencies"]
