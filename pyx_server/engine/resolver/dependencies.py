"""From requirements to PubGrub dependencies: extras, markers, overrides and URL pins.

PubGrub knows packages and version sets; Python packaging adds extras, environment markers,
overrides and direct URLs. This module is the translation:

* A package key is ``Pkg(name, extra)``. ``a[x]`` is a *virtual package* whose every version
  ``v`` depends on ``a==v`` plus the requirements of extra ``x`` (markers evaluated with
  ``extra == "x"``), so extras that pull in other extras (``a[all]`` requiring ``a[x,y]``) need
  nothing special. A requirement ``b[x]>=1`` becomes dependencies on ``b>=1`` and ``b[x]>=1``.
* Markers are evaluated for the target's marker environment, with ``extra`` set to ``""``
  for a package's own requirements and to the extra for an extra's.
* An override replaces every requirement on its name that applies in the target
  environment, by those override entries whose own markers apply.
* A URL requirement (``name @ url``) pins ``name`` to that URL; its version set is "any", the
  URL's one candidate decides the version.

Two special keys: ``ROOT_PKG`` (the user's requirements, one version) and ``PYTHON_PKG`` (the
target Python, one version: the target's; ``Requires-Python`` is a dependency on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pyx_server.engine.resolver.ranges import VersionSet

__all__ = ["PYTHON_PKG", "ROOT_PKG", "Dependency", "DependencyBuilder", "Pkg", "requirement_set"]


class Pkg(NamedTuple):
    """A PubGrub package: a distribution name, optionally with one extra (a virtual package)."""

    name: str
    extra: str | None = None

    def __str__(self) -> str:
        if self.name == ROOT_NAME:
            return "your requirements"
        if self.name == PYTHON_NAME:
            return "Python"
        return self.name if self.extra is None else f"{self.name}[{self.extra}]"


ROOT_NAME = ":root:"
PYTHON_NAME = ":python:"
ROOT_PKG = Pkg(ROOT_NAME)
PYTHON_PKG = Pkg(PYTHON_NAME)


@dataclass(frozen=True)
class Dependency:
    """One edge of the dependency graph: ``package`` must be in ``versions``, because of
    ``requirement`` (kept for ``# via`` annotations and explanations)."""

    package: Pkg
    versions: VersionSet
    requirement: Requirement | None
    #: every requirement merged into this edge (two requirements on one package from one
    #: dependent must both hold), as written: for explaining an empty intersection
    merged: tuple[str, ...] = ()

    def label(self) -> tuple[str, ...]:
        """The requirement texts behind this edge (``("a==1", "a==2")``)."""
        if self.merged:
            return self.merged
        return (_requirement_text(self.package, self.requirement),) if self.requirement else ()


def _requirement_text(package: Pkg, requirement: Requirement | None) -> str:
    if requirement is None:
        return str(package)
    if requirement.url:
        return f"{package} @ {requirement.url}"
    return f"{package}{requirement.specifier}"


def requirement_set(requirement: Requirement) -> VersionSet:
    """The versions a requirement admits (any version for a URL requirement)."""
    if requirement.url:
        return VersionSet.full()
    return VersionSet.from_specifier_set(requirement.specifier)


class DependencyBuilder:
    """Evaluates markers and applies overrides for one target environment."""

    def __init__(self, environment: Mapping[str, str], overrides: Sequence[Requirement]) -> None:
        self._env = {k: v for k, v in environment.items() if k != "extra"}
        self._marker_cache: dict[tuple[str, str], bool] = {}
        self._overrides: dict[NormalizedName, list[Requirement]] = {}
        for override in overrides:
            self._overrides.setdefault(canonicalize_name(override.name), []).append(override)

    def applies(self, marker: Marker | None, extra: str = "") -> bool:
        """Whether a marker holds in the target environment (with ``extra`` set)."""
        if marker is None:
            return True
        key = (str(marker), extra)
        cached = self._marker_cache.get(key)
        if cached is None:
            env = dict(self._env)
            env["extra"] = extra
            cached = self._marker_cache[key] = marker.evaluate(env)
        return cached

    def overridden(self, name: str) -> bool:
        return canonicalize_name(name) in self._overrides

    def root(self, requirements: Iterable[Requirement]) -> list[Dependency]:
        """The dependencies of the root: the user's requirements that apply, overrides applied."""
        return self._expand(r for r in requirements if self.applies(r.marker))

    def of(self, name: NormalizedName, requires: Sequence[Requirement], extra: str | None) -> list[Dependency]:
        """The dependencies of a distribution (``extra=None``) or of one of its extras.

        For an extra, only the requirements that the extra adds are returned (those whose
        marker holds with ``extra == x`` but not without); the solver adds ``a[x]==v -> a==v``.
        """
        if extra is None:
            selected = [r for r in requires if self.applies(r.marker)]
        else:
            selected = [
                r
                for r in requires
                if r.marker is not None and self.applies(r.marker, extra) and not self.applies(r.marker)
            ]
        return [d for d in self._expand(selected) if not (d.package.name == name and d.package.extra == extra)]

    def _expand(self, requirements: Iterable[Requirement]) -> list[Dependency]:
        merged: dict[Pkg, Dependency] = {}
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            replacements = self._overrides.get(name)
            if replacements is not None:
                chosen = [o for o in replacements if self.applies(o.marker)]
            else:
                chosen = [requirement]
            for req in chosen:
                versions = requirement_set(req)
                keys = [Pkg(name)] + [Pkg(name, canonicalize_name(e)) for e in sorted(req.extras)]
                for key in keys:
                    existing = merged.get(key)
                    if existing is None:
                        merged[key] = Dependency(key, versions, req)
                    else:
                        # two requirements on one package from one dependent: both must hold
                        merged[key] = Dependency(
                            key,
                            existing.versions.intersection(versions),
                            existing.requirement,
                            (*existing.label(), _requirement_text(key, req)),
                        )
        return list(merged.values())
