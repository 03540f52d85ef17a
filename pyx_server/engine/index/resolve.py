"""Resolving requirements against the configured indexes: the pure resolver, fed by the index.

``resolve_requirements`` runs the PubGrub solver (``engine.resolver``) in a worker thread with
an ``IndexMetadataProvider`` answering from this event loop, and returns the resolution with,
for every package, the file it chose (what to install, and what to hash in a lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName
from packaging.version import Version

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.loop import running_loop
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec
from pyx_server.engine.resolver import PrereleaseMode, Resolution, ResolutionMode, ResolverOptions, resolve
from pyx_server.engine.index.distfile import DistFile


@dataclass(frozen=True)
class ResolveOptions:
    """The resolution knobs a front exposes (uv's spellings), beyond the requirements."""

    prerelease: PrereleaseMode = PrereleaseMode.IF_NECESSARY_OR_EXPLICIT
    resolution: ResolutionMode = ResolutionMode.HIGHEST
    exclude_newer: datetime | None = None
    upgrade: bool = False
    upgrade_packages: frozenset[str] = frozenset()
    constraints: Sequence[RequirementSpec] = ()
    overrides: Sequence[RequirementSpec] = ()
    #: never build these from source (True: nothing); pip's ``--only-binary``, uv's ``--no-build``
    no_build: bool | frozenset[str] = False
    #: never use wheels of these (True: of anything); pip's and uv's ``--no-binary``
    no_binary: bool | frozenset[str] = False

    def builds(self, name: str) -> bool:
        return not (self.no_build is True or (isinstance(self.no_build, frozenset) and name in self.no_build))

    def binaries(self, name: str) -> bool:
        return not (self.no_binary is True or (isinstance(self.no_binary, frozenset) and name in self.no_binary))


@dataclass(frozen=True)
class ResolveResult:
    resolution: Resolution
    #: name → the file behind the chosen version (wheel or sdist; a direct URL's file)
    files: Mapping[NormalizedName, DistFile] = field(default_factory=dict)
    #: name → every file of the chosen version (for ``--generate-hashes``)
    all_files: Mapping[NormalizedName, tuple[DistFile, ...]] = field(default_factory=dict)


async def resolve_requirements(
    specs: Sequence[RequirementSpec],
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    options: ResolveOptions = ResolveOptions(),
    preferences: Mapping[str, Version] | None = None,
    reporter: Reporter | None = None,
    sdist_metadata=None,
    python_version: Version | None = None,
) -> ResolveResult:
    """Choose a version (and a file) for everything ``specs`` need, for ``interpreter``.

    ``preferences`` (installed or locked versions) are kept unless upgraded;
    ``python_version`` resolves for another Python version than the interpreter's. Raises
    ``ResolutionImpossible`` with the explanation when there is no solution.
    """
    from pyx_server.engine.index.client import IndexClient
    from pyx_server.engine.index.provider import IndexMetadataProvider, direct_file

    loop = await running_loop()
    direct, trees = {}, {}
    for spec in specs:
        if spec.path is not None and spec.path.is_dir():
            trees[spec.name] = spec.path
        elif spec.url:
            hashes = {algo: digests[0] for algo, digests in spec.hashes.items() if len(digests) == 1}
            url = spec.path.as_uri() if spec.path is not None else spec.url
            file = direct_file(url, hashes)
            if file is not None:
                direct[spec.name] = file
    if python_version is not None:
        interpreter = TargetPython(interpreter, python_version)
    resolver_options = ResolverOptions(
        environment=interpreter.markers,
        python=interpreter.python_version,
        constraints=[c.requirement for c in options.constraints],
        overrides=[o.requirement for o in options.overrides],
        preferences=dict(preferences or {}),
        upgrade=options.upgrade,
        upgrade_packages=options.upgrade_packages,
        prerelease=options.prerelease,
        resolution=options.resolution,
        exclude_newer=options.exclude_newer,
    )
    # the cache held shared while pages and metadata are read from it: ``cache clean`` waits
    async with cache.in_use(reporter=reporter), IndexClient(index, cache, reporter) as client:
        provider = IndexMetadataProvider(
            client, loop, interpreter, sdist_metadata=sdist_metadata, direct_files=direct, direct_trees=trees,
            builds=options.builds, binaries=options.binaries, upload_times=options.exclude_newer is not None,
        )
        try:
            resolution = await asyncio.to_thread(
                resolve, [s.requirement for s in specs], provider, resolver_options, reporter=reporter
            )
        finally:
            await provider.aclose()
        files, all_files = {}, {}
        for name, package in resolution.items():
            chosen = provider.chosen_file(name, package.version)
            if chosen is not None:
                files[name] = chosen
            all_files[name] = provider.files_of(name, package.version)
    return ResolveResult(resolution, files, all_files)


class TargetPython:
    """The interpreter a resolution is for, as ``--python-version`` may restate it.

    Markers (``python_version``, ``python_full_version``), ``Requires-Python`` and wheel tags
    follow the requested version; the platform, implementation and ABI flavour stay the
    interpreter's (what uv does for ``uv pip compile --python-version``).
    """

    def __init__(self, interpreter, version: Version) -> None:
        from packaging import tags as tagmod

        self.interpreter = interpreter
        self.python_version = version
        release = version.release + (0, 0)
        short = f"{release[0]}.{release[1]}"
        self.markers = {
            **interpreter.markers,
            "python_version": short,
            "python_full_version": str(version) if len(version.release) >= 3 else f"{short}.0",
        }
        platforms = []
        for text in interpreter.tags:
            platform = text.rsplit("-", 1)[-1]
            if platform != "any" and platform not in platforms:
                platforms.append(platform)
        major_minor = (release[0], release[1])
        if interpreter.implementation == "cpython":
            supported = list(tagmod.cpython_tags(major_minor, platforms=platforms))
        else:
            supported = list(tagmod.generic_tags(platforms=platforms))
        supported += list(tagmod.compatible_tags(major_minor, platforms=platforms))
        self._priority: dict = {}
        for rank, tag in enumerate(supported):
            self._priority.setdefault(tag, rank)

    def supports(self, tags) -> int | None:
        ranks = [self._priority[t] for t in tags if t in self._priority]
        return min(ranks) if ranks else None
