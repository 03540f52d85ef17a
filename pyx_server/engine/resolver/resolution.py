"""The answer of a resolution: each chosen package, its extras, and what required it.

Ordered by name (so a printed lock is stable); every entry keeps the candidate (for its URL,
hashes later, yanked status) and the requirements that brought it in, which is what
``pyx pip compile`` prints as ``# via`` annotations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.version import Version

from pyx_server.engine.resolver.provider import Candidate

__all__ = ["Resolution", "ResolvedPackage", "Via"]


@dataclass(frozen=True)
class Via:
    """One reason a package is in the resolution: ``name`` (``None`` for the user's own
    requirements), the extra of ``name`` that asked for it, and the requirement itself."""

    name: str | None
    requirement: Requirement
    extra: str | None = None


@dataclass(frozen=True)
class ResolvedPackage:
    """A chosen distribution: name, version, the extras activated, and who required it."""

    name: str
    version: Version
    candidate: Candidate
    extras: frozenset[str] = frozenset()
    via: tuple[Via, ...] = ()

    @property
    def direct(self) -> bool:
        """Whether the user required it directly (not only through another package)."""
        return any(v.name is None for v in self.via)

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        if self.candidate.url is not None:
            return f"{self.name}{extras} @ {self.candidate.url}"
        return f"{self.name}{extras}=={self.version}"


@dataclass(frozen=True)
class Resolution(Mapping[str, ResolvedPackage]):
    """Name (canonical) → chosen package, sorted by name; plus warnings worth showing."""

    packages: Mapping[str, ResolvedPackage]
    warnings: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> ResolvedPackage:
        return self.packages[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.packages)

    def __len__(self) -> int:
        return len(self.packages)

    def versions(self) -> dict[str, Version]:
        """Just the pins: name → version."""
        return {name: package.version for name, package in self.packages.items()}
