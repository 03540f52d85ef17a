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
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec
from pyx_server.engine.resolver import PrereleaseMode, Resolution, ResolutionMode, ResolverOptions, resolve
from pyx_server.engine.simple import DistFile


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
) -> ResolveResult:
    """Choose a version (and a file) for everything ``specs`` need, for ``interpreter``.

    ``preferences`` (installed or locked versions) are kept unless upgraded. Raises
    ``ResolutionImpossible`` with the explanation when there is no solution.
    """
    from pyx_server.engine.index import IndexClient
    from pyx_server.engine.index_provider import IndexMetadataProvider, direct_file

    loop = asyncio.get_running_loop()
    direct = {}
    for spec in specs:
        if spec.url:
            hashes = {algo: digests[0] for algo, digests in spec.hashes.items() if len(digests) == 1}
            url = spec.path.as_uri() if spec.path is not None else spec.url
            file = direct_file(url, hashes)
            if file is not None:
                direct[spec.name] = file
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
    async with IndexClient(index, cache, reporter) as client:
        provider = IndexMetadataProvider(
            client, loop, interpreter, sdist_metadata=sdist_metadata, direct_files=direct
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
