"""What the resolver asks for, and in what shape: the ``MetadataProvider`` Protocol and its values.

The resolver performs no I/O. Everything it needs to know about the world comes through a
``MetadataProvider``: which versions of a package exist (with the index facts that decide
whether a version may be chosen: yanked, ``Requires-Python``, upload time), and the
dependency metadata of one chosen version. Tests use ``memory.InMemoryProvider``; the index
client backs the real one.

Expected misses are values, not exceptions (``NotFound``, ``Unavailable``): a package absent
from the index or a version whose metadata cannot be built is an ordinary fact the resolver
explains. A provider raises only for failures that make resolving pointless (the index is
unreachable, the cache is corrupt), and then it raises a ``PyxError``.

Synchronous calls, asynchronous providers
-----------------------------------------
The solver core is synchronous and runs start to finish on one thread; its calls to the
provider may block. A network provider is meant to run the solver in a worker thread
(``asyncio.to_thread``) and answer ``versions``/``dependencies`` from a cache that its event
loop fills in the background (blocking on a ``concurrent.futures.Future`` only when an answer is
not there yet). ``prefetch`` is how the solver tells it what to load next: it is called,
without waiting for anything, whenever the solver discovers packages it will need (their
listings) and candidates it is likely to try (their metadata), so the loop fetches them in
parallel while the solver works. This keeps the core simple, deterministic and testable, and
it makes cold-cache resolution cost about one round-trip per *layer* of the dependency graph
instead of one per package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

__all__ = [
    "Candidate",
    "Dependencies",
    "DependenciesResult",
    "Found",
    "MetadataProvider",
    "NotFound",
    "PrefetchHint",
    "Unavailable",
    "VersionsResult",
]


@dataclass(frozen=True)
class Candidate:
    """One version of a package the resolver may choose, with the index facts about it.

    ``requires_python`` is what the index says (PEP 503 ``data-requires-python`` / JSON
    ``requires-python``); the metadata may repeat it. ``url`` is set when the candidate comes
    from a direct URL or local path rather than from an index listing. ``unavailable`` is set by
    the provider when none of the version's files can be installed on the target, as the end
    of a sentence about it ("has no wheels with a matching platform tag"): the resolver then
    skips it and cites the reason when that matters.
    """

    name: NormalizedName
    version: Version
    yanked: bool = False
    yanked_reason: str | None = None
    requires_python: SpecifierSet | None = None
    upload_time: datetime | None = None
    url: str | None = None
    unavailable: str | None = None

    @property
    def prerelease(self) -> bool:
        """PEP 440: a pre-release or development release (``1.0a1``, ``1.0.dev0``)."""
        return self.version.is_prerelease

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" if self.url is None else f"{self.name} @ {self.url}"


@dataclass(frozen=True)
class Found:
    """The package exists: these are its candidates, in any order."""

    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class NotFound:
    """No configured source knows the package. ``reason`` is a sentence fragment that completes
    "``<name>`` …" in an explanation (default: "was not found in the package registry");
    ``hint`` is shown to the user as a hint (e.g. that the package exists on a later index)."""

    reason: str = "was not found in the package registry"
    hint: str | None = None


VersionsResult = Found | NotFound


@dataclass(frozen=True)
class Dependencies:
    """The core metadata the resolver needs from one distribution.

    ``requires`` is every ``Requires-Dist`` entry, markers and ``extra ==`` clauses included: the
    resolver evaluates markers for the target environment and picks the entries of each extra
    itself. ``provides_extras`` is ``Provides-Extra`` (``None`` when the metadata does not list
    it; an extra that is requested but not provided then simply adds nothing).
    """

    requires: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extras: frozenset[str] | None = None


@dataclass(frozen=True)
class Unavailable:
    """This version cannot be used, for a reason that completes "``a==1.0`` …" in an explanation
    (e.g. "has invalid metadata", "could not be built: <backend error>")."""

    reason: str


DependenciesResult = Dependencies | Unavailable


@dataclass(frozen=True)
class PrefetchHint:
    """What the solver expects to need soon.

    With ``versions`` empty, the solver will need the listing of ``name`` (a network provider
    may also fetch the metadata of the newest candidate as soon as the listing arrives: that is
    what the solver tries first unless a preference or pre-release rule says otherwise). With
    versions, it will likely ask for the dependencies of those candidates, most likely first.
    """

    name: NormalizedName
    versions: tuple[Version, ...] = field(default=())


@runtime_checkable
class MetadataProvider(Protocol):
    """The resolver's only window on packages: four calls, all answered with values.

    Calls come from one thread, in a deterministic order; a provider may cache as it likes.
    """

    def versions(self, name: NormalizedName) -> VersionsResult:
        """Every candidate of ``name`` that the configured indexes list, yanked ones included.

        Filtering (yanked, pre-releases, ``Requires-Python``, exclude-newer) is the resolver's
        job, so it can explain what it skipped. Called at most once per name per resolution.
        """
        ...

    def direct(self, name: NormalizedName, url: str) -> VersionsResult:
        """The one candidate behind a direct URL or local path requirement (``name @ url``).

        Answer ``Found`` with exactly one candidate (its ``url`` set and its version read from
        the distribution's metadata), or ``NotFound`` with a reason if the URL cannot be used.
        """
        ...

    def dependencies(self, candidate: Candidate) -> DependenciesResult:
        """The metadata of one candidate: ``Dependencies``, or ``Unavailable`` with a reason."""
        ...

    def prefetch(self, hints: Sequence[PrefetchHint]) -> None:
        """A hint that the solver will soon ask about these; must return without blocking.

        A network provider starts background fetches; an in-memory one ignores it.
        """
        ...
