"""The PEP 751 lock as typed, frozen dataclasses: ``Lock`` → ``LockedPackage`` → ``LockedFile``.

Field names follow the specification with ``-`` spelled ``_``. Values are parsed once
(``Version``, ``Marker``, ``SpecifierSet``) so callers never re-parse strings. Keys this
version of pyx does not know are kept in ``unknown`` (and ``[tool]`` tables in ``tool``) so a
lock pyx reads and writes back loses nothing.

Each class puts itself in canonical order when built (packages by name then version, wheels
by file name, dependencies and the name lists sorted): two locks that mean the same thing
compare equal, and writing is deterministic whatever order the data came in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

__all__ = [
    "DirectorySource",
    "LOCK_VERSION",
    "Lock",
    "LockedDependency",
    "LockedFile",
    "LockedPackage",
    "VcsSource",
]

#: the lock-file format version pyx writes (and the newest it fully understands)
LOCK_VERSION = "1.0"


def _utc(value: datetime | None) -> datetime | None:
    """PEP 751 records upload times in UTC; a time without a zone is taken to be UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class LockedFile:
    """One file of a package: a wheel, the sdist, or a direct ``archive``, with its digests.

    ``name`` is the file name when written explicitly (it wins over the last part of ``url``
    or ``path``); ``filename`` is the name to use either way. ``path`` is relative to the
    lock file's directory when it is not absolute. ``subdirectory`` is meaningful for
    archives only.
    """

    name: str | None = None
    url: str | None = None
    path: str | None = None
    upload_time: datetime | None = None
    size: int | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)
    subdirectory: str | None = None
    #: keys pyx does not know, written back as they were read
    unknown: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "upload_time", _utc(self.upload_time))
        _set(self, "hashes", {k: self.hashes[k] for k in sorted(self.hashes)})
        _set(self, "unknown", dict(self.unknown))

    def __hash__(self) -> int:  # the mappings make the generated hash impossible
        return hash((self.name, self.url, self.path))

    @cached_property
    def filename(self) -> str:
        """The file's name: ``name`` if given, else the last part of ``path``, else of ``url``.

        Computed once per file (a lock of all platforms' wheels asks it thousands of times)."""
        if self.name:
            return self.name
        if self.path:
            return self.path.replace("\\", "/").rstrip("/").rpartition("/")[2]
        if self.url:
            return unquote(urlsplit(self.url).path.rpartition("/")[2])
        return ""

    @property
    def is_wheel(self) -> bool:
        """Whether the file is a wheel (installed as is) rather than an sdist (built first)."""
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        """The SHA-256 digest, the one every tool can check (PEP 751 recommends it)."""
        return self.hashes.get("sha256")


@dataclass(frozen=True)
class VcsSource:
    """``[packages.vcs]``: a source tree at an exact commit of a repository (built to install)."""

    type: str
    commit_id: str
    url: str | None = None
    path: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.type, self.commit_id, self.url, self.path))


@dataclass(frozen=True)
class DirectorySource:
    """``[packages.directory]``: a local source tree (``path`` relative to the lock file)."""

    path: str
    #: None when the lock does not say (the specification's default is false)
    editable: bool | None = None
    subdirectory: str | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.path, self.editable, self.subdirectory))


@dataclass(frozen=True)
class LockedDependency:
    """One ``[[packages.dependencies]]`` entry: enough keys to find the other package entry.

    Informational only (PEP 751 forbids installing from it); pyx uses it to tell whether a
    locked package is still needed. Keys other than ``name`` and ``version`` (a ``vcs`` table
    that tells two entries apart) are kept in ``unknown``.
    """

    name: NormalizedName
    version: Version | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "name", canonicalize_name(self.name))
        if isinstance(self.version, str):
            _set(self, "version", Version(self.version))

    def __hash__(self) -> int:
        return hash((self.name, self.version))


def _package_key(package: LockedPackage) -> tuple:
    version = (0,) if package.version is None else (1, package.version)
    return (package.name, version, str(package.marker or ""), package.source_kind)


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[packages]]`` entry: a name, maybe a version and marker, and exactly one source.

    The source is ``vcs``, ``directory``, ``archive``, or index files (``sdist`` and/or
    ``wheels``, with ``index`` the simple-API URL they came from); ``source_kind`` says which.
    """

    name: NormalizedName
    version: Version | None = None
    marker: Marker | None = None
    requires_python: SpecifierSet | None = None
    dependencies: Sequence[LockedDependency] = ()
    vcs: VcsSource | None = None
    directory: DirectorySource | None = None
    archive: LockedFile | None = None
    index: str | None = None
    sdist: LockedFile | None = None
    wheels: Sequence[LockedFile] = ()
    attestation_identities: Sequence[Mapping[str, Any]] = ()
    tool: Mapping[str, Any] = field(default_factory=dict)
    unknown: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _set(self, "name", canonicalize_name(self.name))
        if isinstance(self.version, str):
            _set(self, "version", Version(self.version))
        if isinstance(self.marker, str):
            _set(self, "marker", Marker(self.marker))
        if isinstance(self.requires_python, str):
            _set(self, "requires_python", SpecifierSet(self.requires_python))
        _set(self, "dependencies", tuple(sorted(self.dependencies, key=lambda d: (d.name, str(d.version or "")))))
        _set(self, "wheels", tuple(sorted(self.wheels, key=lambda w: (w.filename, w.url or "", w.path or ""))))
        _set(self, "attestation_identities", tuple(dict(a) for a in self.attestation_identities))
        _set(self, "tool", dict(self.tool))
        _set(self, "unknown", dict(self.unknown))

    def __hash__(self) -> int:
        return hash((self.name, self.version, str(self.marker or "")))

    @property
    def source_kind(self) -> str:
        """``vcs``, ``directory``, ``archive`` or ``index`` (sdist/wheels); ``none`` if unset."""
        if self.vcs is not None:
            return "vcs"
        if self.directory is not None:
            return "directory"
        if self.archive is not None:
            return "archive"
        if self.sdist is not None or self.wheels:
            return "index"
        return "none"

    @property
    def files(self) -> tuple[LockedFile, ...]:
        """Every file recorded for the package (wheels, then the sdist, or the archive)."""
        if self.archive is not None:
            return (self.archive,)
        return tuple(self.wheels) + ((self.sdist,) if self.sdist is not None else ())

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" if self.version is not None else str(self.name)


@dataclass(frozen=True)
class Lock:
    """A whole ``pylock.toml``.

    ``extras``, ``dependency_groups``, ``default_groups`` and ``environments`` are None when
    the file leaves them out (an empty tuple is written as an explicit ``[]``, which PEP 751
    reads as "the inputs had none"). ``warnings`` holds what a reader should tell the user
    (a newer minor ``lock-version``, unknown keys); it is not part of equality.
    """

    lock_version: str = LOCK_VERSION
    environments: Sequence[Marker] | None = None
    requires_python: SpecifierSet | None = None
    extras: Sequence[NormalizedName] | None = None
    dependency_groups: Sequence[str] | None = None
    default_groups: Sequence[str] | None = None
    created_by: str = "pyx"
    packages: Sequence[LockedPackage] = ()
    tool: Mapping[str, Any] = field(default_factory=dict)
    unknown: Mapping[str, Any] = field(default_factory=dict)
    #: ``errors.PyxWarning`` values, each with the file and line it is about
    warnings: tuple[Any, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.environments is not None:
            _set(self, "environments", tuple(Marker(m) if isinstance(m, str) else m for m in self.environments))
        if isinstance(self.requires_python, str):
            _set(self, "requires_python", SpecifierSet(self.requires_python))
        if self.extras is not None:
            _set(self, "extras", tuple(sorted({canonicalize_name(e) for e in self.extras})))
        for key in ("dependency_groups", "default_groups"):
            value = getattr(self, key)
            if value is not None:
                _set(self, key, tuple(sorted(set(value))))
        _set(self, "packages", tuple(sorted(self.packages, key=_package_key)))
        _set(self, "tool", dict(self.tool))
        _set(self, "unknown", dict(self.unknown))
        _set(self, "warnings", tuple(self.warnings))

    def __hash__(self) -> int:
        return hash((self.lock_version, self.created_by, tuple(self.packages)))

    def packages_named(self, name: str) -> tuple[LockedPackage, ...]:
        """Every entry for ``name`` (PEP 751 allows several, told apart by their markers)."""
        wanted = canonicalize_name(name)
        return tuple(p for p in self.packages if p.name == wanted)
