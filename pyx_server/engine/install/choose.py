"""Choosing the wheel to install for each requirement: a file a lock or a resolution already
chose, a pin the cache already holds, else the indexes' pages (an sdist is built into a wheel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from pyx_server.engine.cache import Cache, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import BuildDisabled, IncompatibleWheel, InvalidRequirement, PackageNotFound, PyxError
from pyx_server.engine.install import plan as planning
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec

if TYPE_CHECKING:
    from pyx_server.engine.install.results import InstallOptions


async def _choose_wheels(
    specs: Sequence[RequirementSpec],
    interpreter,
    index: IndexSettings,
    cache: Cache,
    options: InstallOptions,
    chosen: Mapping[NormalizedName, object] | None = None,
    requested: frozenset[str] | None = None,
    build=None,
    reporter: Reporter | None = None,
    before_index=None,
    on_chosen=None,
) -> list[planning.WheelSource]:
    """The wheel to install for each requirement: ``chosen`` files (from a resolution) first,
    then cached pins, then the indexes. ``requested`` names get a ``REQUESTED`` file (all if None).
    ``before_index`` is called before an index is first asked (wheels will likely be fetched);
    ``on_chosen(source)`` as soon as an exact pin's wheel is picked from its page, while the
    other pages are still being read."""
    from pyx_server.engine.install.wheel import parse_wheel_name

    sources: list[planning.WheelSource] = []
    chosen = chosen or {}

    def is_requested(name: str) -> bool:
        return requested is None or name in requested

    by_index = []
    for spec in specs:
        if spec.url:
            continue
        file = chosen.get(spec.name)
        if file is None:
            by_index.append(spec)
            continue
        sources.append(await _index_source(file, spec, is_requested(file.name), build))
    for spec in specs:
        if spec.url and not _is_wheel_location(spec):
            sources.append(await _built_source(build, spec.path or _direct_file(_spec_source(spec)), spec,
                                               is_requested(spec.name), direct=True))
            continue
        if spec.url:
            wheel = parse_wheel_name(spec.path.name if spec.path else spec.url.split("#")[0].rsplit("/", 1)[-1])
            if not spec.requirement.specifier.contains(wheel.version, prereleases=True):
                raise InvalidRequirement(f"`{wheel.filename}` is version {wheel.version}, which `{spec}` excludes")
            if interpreter.supports(wheel.tags) is None:
                raise IncompatibleWheel(
                    f"`{wheel.filename}` is not compatible with this interpreter ({_python_label(interpreter)})",
                    hints=["choose a wheel whose tags match this Python and platform"],
                )
            sources.append(
                planning.WheelSource(
                    name=wheel.name,
                    version=wheel.version,
                    filename=wheel.filename,
                    file=None,
                    path=spec.path,
                    url=spec.url,
                    allowed_hashes=spec.hashes,
                    sha256=(spec.hashes.get("sha256") or (None,))[0] if len(spec.hashes.get("sha256", ())) == 1 else None,
                    direct=True,
                    requested=is_requested(wheel.name),
                )
            )
    if not options.refresh and not index.offline:
        # exact pins already in the cache need no index page (uv's registry wheel index):
        # a file name on an index is immutable, so the cached wheel is the one the index serves
        remaining = []
        for spec in by_index:
            cached = _cached_pin(spec, interpreter, index, cache)
            if cached is not None:
                sources.append(cached)
            else:
                remaining.append(spec)
        by_index = remaining
    if not by_index:
        return sources
    if before_index is not None:
        before_index()
    python_version = Version(".".join(map(str, interpreter.version)))
    import asyncio  # only now: a warm install of cached pins runs without an event loop (engine.loop)

    from pyx_server.engine.errors import NoMatchingDistribution
    from pyx_server.engine.index.client import IndexClient, ProjectNotFound  # httpx: only when an index is asked
    from pyx_server.engine.install.selector import PinnedVersions, select_file

    async with IndexClient(index, cache, reporter) as client:
        # exact pins only need the files of their version: the rest of a page is not parsed
        filters = [PinnedVersions(spec.requirement.specifier) if spec.pinned_version else None for spec in by_index]

        async def page_of(spec: RequirementSpec, versions):
            page = await client.project(spec.name, versions=versions)
            if versions is None or isinstance(page, ProjectNotFound):
                return page
            try:
                picked = _select(spec, page, python_version, interpreter, options, select_file, build is not None)
            except NoMatchingDistribution:
                # explain the miss with the whole page (every version, every file)
                return await client.project(spec.name)
            if on_chosen is not None and picked.file.is_wheel:
                on_chosen(await _index_source(picked.file, spec, is_requested(spec.name), build))
            return page

        pages = await asyncio.gather(*(page_of(s, f) for s, f in zip(by_index, filters)))

    for spec, page in zip(by_index, pages):
        if isinstance(page, ProjectNotFound):
            searched = ", ".join(f"`{s}`" for s in page.searched) or "no index (`--no-index`)"
            raise PackageNotFound(
                f"`{spec.name}` was not found in the package registry ({spec.source})",
                context={"searched": searched},
                hints=[f"searched: {searched}", "check the spelling, or add the index that hosts it with `--index-url`"],
            )
        try:
            chosen = _select(spec, page, python_version, interpreter, options, select_file, build is not None)
        except NoMatchingDistribution as exc:
            exc.hints += _first_index_hints(spec.name, page, index)
            raise
        sources.append(await _index_source(chosen.file, spec, is_requested(spec.name), build))
    return sources


def _first_index_hints(name: str, page, index: IndexSettings) -> list[str]:
    """When ``name`` was taken from an index that is not the last one, say that the later ones
    were not asked (uv's first-index strategy, against dependency confusion) and how to ask them."""
    answered = getattr(page, "index", None)
    searched = [redact_url(u) for u in index.indexes_for(name)]
    if index.strategy != "first-index" or answered not in searched or answered == searched[-1]:
        return []
    later = ", ".join(f"`{u}`" for u in searched[searched.index(answered) + 1 :])
    return [
        f"`{name}` was found on `{answered}`, so the later indexes ({later}) were not asked: a "
        "package comes from the first index that has it, which keeps an index from replacing another's",
        "if every index is trusted, `--index-strategy unsafe-best-match` considers the versions of all of them",
    ]


async def _index_source(file, spec: RequirementSpec, requested: bool, build) -> planning.WheelSource:
    """What to install for ``file`` from an index or a lock: the wheel itself, or one built from the sdist."""
    if not file.is_wheel:
        return await _built_source(build, file, spec, requested)
    return planning.WheelSource(
        name=file.name,
        version=file.version,
        filename=file.filename,
        file=file,
        path=_file_path(file.url),
        url=file.url,
        allowed_hashes=spec.hashes,
        sha256=file.hashes.get("sha256"),
        requested=requested,
    )


def _select(spec: RequirementSpec, page, python_version: Version, interpreter, options: InstallOptions, select_file,
            allow_sdist: bool = False):
    return select_file(
        spec.name,
        page.files,
        spec.requirement.specifier,
        python_version=python_version,
        tag_rank=interpreter.supports,
        allowed_hashes=dict(spec.hashes) or None,
        prereleases=options.prereleases,
        requirement_text=str(spec.requirement),
        allow_sdist=allow_sdist,
    )


def _is_wheel_location(spec: RequirementSpec) -> bool:
    if spec.path is not None:
        return spec.path.is_file() and spec.path.name.endswith(".whl")
    return spec.url.split("#", 1)[0].endswith(".whl")


def _spec_source(spec: RequirementSpec) -> planning.WheelSource:
    """A stand-in source for an sdist named by URL (only its URL and hashes are used)."""
    filename = spec.url.split("#", 1)[0].rsplit("/", 1)[-1]
    return planning.WheelSource(spec.name, Version("0"), filename, None, None, spec.url, spec.hashes)


async def _built_source(build, source, spec: RequirementSpec, requested: bool, *, direct: bool = False) -> planning.WheelSource:
    """Build ``source`` (an sdist ``DistFile`` or a source-tree ``Path``) and describe the wheel.

    ``direct`` installs (URL, path, ``-e``) record where they came from (PEP 610): the tree
    (``dir_info``, editable or not) or the sdist's URL (``archive_info``), not the built wheel.
    """
    from pyx_server.engine.install.wheel import parse_wheel_name

    if build is None:
        raise BuildDisabled(f"`{spec}` needs a build from source, and building is turned off")
    editable = bool(spec.editable)
    wheel_path = await build.wheel(source, editable=editable)
    wheel = parse_wheel_name(wheel_path.name)
    origin = None
    if direct:
        if isinstance(source, Path) and source.is_dir():
            origin = {"url": source.as_uri(), "dir_info": {"editable": True} if editable else {}}
        else:
            url = source.as_uri() if isinstance(source, Path) else redact_url(source.url)
            origin = {"url": url, "archive_info": {}}
    return planning.WheelSource(
        name=wheel.name,
        version=wheel.version,
        filename=wheel.filename,
        file=None,
        path=wheel_path,
        url=wheel_path.as_uri(),
        direct=direct,
        requested=requested,
        origin=origin,
    )


def _cached_pin(spec: RequirementSpec, interpreter, index: IndexSettings, cache: Cache) -> planning.WheelSource | None:
    """A wheel for ``name==X`` that the cache already holds from a configured index, or None.

    The first index (in priority order) with a cached compatible wheel of that version wins;
    among its wheels the best-ranked tag. User hashes must match the cached digest.
    """
    version = spec.pinned_version
    if version is None:
        return None
    from pyx_server.engine.index.simple import DistFile
    from pyx_server.engine.install.wheel import parse_wheel_name

    for location in (*index.find_links, *index.indexes):
        shown = redact_url(location)
        directory = cache.root / "wheels-v1" / ("index-" + digest(shown)) / spec.name
        try:
            entries = [e.name[: -len(".json")] for e in os.scandir(directory) if e.name.endswith(".whl.json")]
        except OSError:
            continue
        best = None
        for filename in entries:
            try:
                wheel = parse_wheel_name(filename)
            except PyxError:
                continue
            if wheel.version != version:
                continue
            rank = interpreter.supports(wheel.tags)
            if rank is None or (best is not None and rank >= best[0]):
                continue
            pointer = cache.read_pointer("index-" + digest(shown), spec.name, filename)
            if pointer is None or cache.archive(pointer.sha256) is None:
                continue
            if "sha256" in spec.hashes and pointer.sha256 not in spec.hashes["sha256"]:
                continue
            best = (rank, wheel, pointer)
        if best is not None:
            _, wheel, pointer = best
            file = DistFile(filename=wheel.filename, url=pointer.url, index=shown, hashes={"sha256": pointer.sha256})
            return planning.WheelSource(
                name=wheel.name,
                version=wheel.version,
                filename=wheel.filename,
                file=file,
                path=None,
                url=pointer.url,
                allowed_hashes=spec.hashes,
                sha256=pointer.sha256,
            )
    return None


def _python_label(interpreter) -> str:
    return f"Python {'.'.join(map(str, interpreter.version))} at `{interpreter.executable}`"


def _file_path(url: str) -> Path | None:
    if url.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(url).path))
    return None


def _direct_file(source: planning.WheelSource):
    from pyx_server.engine.index.simple import DistFile

    hashes = {algo: digests[0] for algo, digests in source.allowed_hashes.items() if len(digests) == 1}
    return DistFile(
        filename=source.filename,
        url=source.url.split("#", 1)[0],
        index=redact_url(source.url.split("#", 1)[0]),
        hashes=hashes,
    )
