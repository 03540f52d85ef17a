"""The resolver: PubGrub over PEP 440 version sets, pure (all facts come from a ``MetadataProvider``).

Public API::

    resolve(requirements, provider, options=ResolverOptions(), *, reporter=None) -> Resolution

raises ``ResolutionImpossible`` (a ``PyxError``, code ``no-solution``) whose derivation tree
stays data, with ``report()`` text and hints.

One job per module:

* ``provider``     the ``MetadataProvider`` Protocol and the values it answers with.
* ``options``      ``ResolverOptions`` and the pre-release / resolution modes.
* ``ranges``       ``VersionSet``: PEP 440 specifiers as interval sets, with their algebra.
* ``candidates``   version selection policy: pre-releases, yanked, Requires-Python, preferences.
* ``dependencies`` requirements → PubGrub dependencies: extras, markers, overrides, URLs.
* ``pubgrub``      the algorithm: terms, incompatibilities, propagation, conflict resolution.
* ``solver``       the driver: priorities, provider calls, prefetch hints, the result.
* ``report``       derivation tree → "Because … we can conclude that …" text.
* ``hints``        what the user could change, read off the derivation's facts.
* ``errors``       ``ResolutionImpossible``.
* ``resolution``   ``Resolution`` / ``ResolvedPackage`` / ``Via``.
* ``memory``       ``InMemoryProvider``: a universe in dicts, for tests and callers.
"""

from pyx_server.engine.resolver.errors import ResolutionImpossible
from pyx_server.engine.resolver.memory import InMemoryProvider, Release
from pyx_server.engine.resolver.options import PrereleaseMode, ResolutionMode, ResolverOptions
from pyx_server.engine.resolver.provider import (
    Candidate,
    Dependencies,
    DependenciesResult,
    Found,
    MetadataProvider,
    NotFound,
    PrefetchHint,
    Unavailable,
    VersionsResult,
)
from pyx_server.engine.resolver.ranges import VersionSet
from pyx_server.engine.resolver.resolution import Resolution, ResolvedPackage, Via
from pyx_server.engine.resolver.solver import resolve

__all__ = [
    "Candidate",
    "Dependencies",
    "DependenciesResult",
    "Found",
    "InMemoryProvider",
    "MetadataProvider",
    "NotFound",
    "PrefetchHint",
    "PrereleaseMode",
    "Release",
    "Resolution",
    "ResolutionImpossible",
    "ResolutionMode",
    "ResolvedPackage",
    "ResolverOptions",
    "Unavailable",
    "VersionSet",
    "VersionsResult",
    "Via",
    "resolve",
]
