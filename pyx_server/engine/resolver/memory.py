"""An in-memory ``MetadataProvider``: a package universe held in dicts, for tests and for callers.

A universe maps each name to its versions, each version to a ``Release`` (requirements,
extras, ``Requires-Python``, yanked, upload time). Direct URLs map to one release each. The
provider records every call, so tests can check what the resolver asked for (and that it
asked for each listing once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

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

__all__ = ["InMemoryProvider", "Release"]


@dataclass(frozen=True)
class Release:
    """One version of a package: its metadata and the index facts about it.

    ``yanked`` is ``True`` or the yank reason. ``unavailable`` is the index-level reason no file
    of the version can be installed (``Candidate.unavailable``); ``metadata_error`` makes
    ``dependencies`` answer ``Unavailable`` with that reason (a build failure, invalid metadata).
    ``metadata_requires_python`` is the ``Requires-Python`` of the metadata when it differs from
    what the index says (``requires_python``).
    """

    requires: tuple[str, ...] = ()
    extras: Mapping[str, Sequence[str]] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: bool | str = False
    upload_time: datetime | None = None
    unavailable: str | None = None
    metadata_error: str | None = None
    metadata_requires_python: str | None = None


@lru_cache(maxsize=65536)
def _requirement(text: str) -> Requirement:
    return Requirement(text)


def _with_extra(text: str, extra: str) -> Requirement:
    requirement = Requirement(text)
    clause = f'extra == "{extra}"'
    requirement.marker = Marker(f"({requirement.marker}) and {clause}" if requirement.marker else clause)
    return requirement


def _release(value: Release | Mapping[str, Any]) -> Release:
    if isinstance(value, Release):
        return value
    upload = value.get("upload-time", value.get("upload_time"))
    if isinstance(upload, str):
        upload = datetime.fromisoformat(upload.replace("Z", "+00:00"))
    if isinstance(upload, datetime) and upload.tzinfo is None:
        upload = upload.replace(tzinfo=timezone.utc)
    return Release(
        requires=tuple(value.get("requires", ())),
        extras={k: tuple(v) for k, v in dict(value.get("extras", {})).items()},
        requires_python=value.get("requires-python", value.get("requires_python")),
        yanked=value.get("yanked", False),
        upload_time=upload,
        unavailable=value.get("unavailable"),
        metadata_error=value.get("metadata-error"),
        metadata_requires_python=value.get("metadata-requires-python"),
    )


class InMemoryProvider:
    """Answers the resolver from dicts: ``{name: {version: Release | dict}}``.

    Dict releases accept the keys of the test case files: ``requires``, ``extras``,
    ``requires-python``, ``yanked``, ``upload-time``, ``unavailable``, ``metadata-error``,
    ``metadata-requires-python``.
    ``urls`` maps a URL to ``(name, version, release)``; ``not_found_hints`` adds a hint to the
    ``NotFound`` answer of a missing package.
    """

    def __init__(
        self,
        universe: Mapping[str, Mapping[str, Release | Mapping[str, Any]]],
        *,
        urls: Mapping[str, tuple[str, str, Release | Mapping[str, Any]]] | None = None,
        not_found_hints: Mapping[str, str] | None = None,
    ) -> None:
        self._packages: dict[NormalizedName, dict[Version, Release]] = {}
        for name, versions in universe.items():
            bucket = self._packages.setdefault(canonicalize_name(name), {})
            for version, release in versions.items():
                bucket[Version(version)] = _release(release)
        self._urls: dict[str, tuple[NormalizedName, Version, Release]] = {
            url: (canonicalize_name(name), Version(version), _release(release))
            for url, (name, version, release) in (urls or {}).items()
        }
        self._hints = {canonicalize_name(k): v for k, v in (not_found_hints or {}).items()}
        #: every call, in order: ("versions", name), ("direct", name, url), ("dependencies", name, version)
        self.calls: list[tuple[str, ...]] = []
        self.prefetched: list[PrefetchHint] = []

    def versions(self, name: NormalizedName) -> VersionsResult:
        """The candidates of a package, straight from the universe."""
        self.calls.append(("versions", name))
        versions = self._packages.get(canonicalize_name(name))
        if versions is None:
            return NotFound(hint=self._hints.get(canonicalize_name(name)))
        return Found(tuple(self._candidate(canonicalize_name(name), v, r) for v, r in versions.items()))

    def direct(self, name: NormalizedName, url: str) -> VersionsResult:
        """The one candidate registered for a URL."""
        self.calls.append(("direct", name, url))
        entry = self._urls.get(url)
        if entry is None or entry[0] != canonicalize_name(name):
            return NotFound(reason=f"could not be fetched from {url}")
        return Found((self._candidate(entry[0], entry[1], entry[2], url),))

    def dependencies(self, candidate: Candidate) -> DependenciesResult:
        """Requires-Dist of a candidate; extra requirements carry their ``extra ==`` marker."""
        self.calls.append(("dependencies", candidate.name, str(candidate.version)))
        if candidate.url is not None:
            release = self._urls[candidate.url][2]
        else:
            release = self._packages[candidate.name][candidate.version]
        if release.metadata_error is not None:
            return Unavailable(release.metadata_error)
        requires = [_requirement(text) for text in release.requires]
        for extra, texts in release.extras.items():
            requires.extend(_with_extra(text, extra) for text in texts)
        requires_python = release.metadata_requires_python or release.requires_python
        return Dependencies(
            requires=tuple(requires),
            requires_python=SpecifierSet(requires_python) if requires_python else None,
            provides_extras=frozenset(release.extras),
        )

    def prefetch(self, hints: Sequence[PrefetchHint]) -> None:
        """Nothing to fetch in memory; the hints are kept for tests."""
        self.prefetched.extend(hints)

    @staticmethod
    def _candidate(name: NormalizedName, version: Version, release: Release, url: str | None = None) -> Candidate:
        return Candidate(
            name=name,
            version=version,
            yanked=bool(release.yanked),
            yanked_reason=release.yanked if isinstance(release.yanked, str) else None,
            requires_python=SpecifierSet(release.requires_python) if release.requires_python else None,
            upload_time=release.upload_time,
            url=url,
            unavailable=release.unavailable,
        )
