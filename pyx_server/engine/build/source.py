"""What a source tree declares: its ``[build-system]`` (with PEP 517/518 defaults), its name, its metadata.

Pure apart from reading the one file it is given. ``[build-system]`` follows PEP 518 and
PEP 517: without ``pyproject.toml`` (or without the table) a tree is built as setuptools
always built it, with ``setuptools>=40.8.0`` and the ``setuptools.build_meta:__legacy__``
backend; a table without ``build-backend`` keeps its ``requires`` and uses that same legacy
backend; a table without ``requires`` is an error (PEP 518 says tools should refuse it).

Static metadata follows PEP 643: an sdist's ``PKG-INFO`` with ``Metadata-Version`` 2.2 or
later is reliable for every field not listed under ``Dynamic``; pyx trusts it (and skips the
build) when none of the fields resolution reads — ``Version``, ``Requires-Dist``,
``Requires-Python``, ``Provides-Extra`` — is dynamic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.metadata import Metadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import InvalidMetadata, InvalidSdist

#: PEP 518's default for trees that do not say: what setuptools-only projects always needed
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)
#: PEP 517's fallback backend: setuptools running ``setup.py`` the way it always did
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
#: the fields resolution reads; if ``PKG-INFO`` lists one as dynamic, the sdist must be built
RESOLUTION_FIELDS = frozenset({"version", "requires-dist", "requires-python", "provides-extra"})


@dataclass(frozen=True)
class BuildSystem:
    """A tree's ``[build-system]``: what to install before building, and the backend to call."""

    requires: tuple[str, ...]
    backend: str
    #: directories inside the tree put first on ``sys.path`` for an in-tree backend (PEP 517)
    backend_path: tuple[str, ...] = ()
    #: the PEP 517/518 defaults applied (no ``pyproject.toml`` or no ``[build-system]`` in it)
    legacy: bool = False


@dataclass(frozen=True)
class SourceLabel:
    """How messages name a package being built: ``name==version`` when known, else what is."""

    name: str | None
    version: str | None = None
    #: shown when the name is unknown (the archive's file name or the directory's)
    fallback: str = "?"

    def __str__(self) -> str:
        if self.name and self.version:
            return f"{self.name}=={self.version}"
        return self.name or self.fallback

    def with_metadata(self, metadata: Metadata) -> SourceLabel:
        return SourceLabel(str(metadata.name), str(metadata.version), self.fallback)


def load_toml(text: str) -> dict[str, Any]:
    """TOML text as plain dicts: tomllib where it exists, else tomlkit (Python 3.10)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomlkit (a dependency anyway) reads it as well
        import tomlkit

        return tomlkit.parse(text).unwrap()
    return tomllib.loads(text)


def _read_pyproject(tree: Path, label: SourceLabel) -> dict[str, Any] | None:
    path = tree / "pyproject.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSdist(f"cannot read `pyproject.toml` of `{label}`: {exc}", context={"path": path}) from exc
    try:
        return load_toml(text)
    except Exception as exc:  # tomllib.TOMLDecodeError / tomlkit's ParseError
        raise InvalidSdist(
            f"`pyproject.toml` of `{label}` is not valid TOML: {exc}",
            context={"path": path},
        ) from exc


def parse_build_system(pyproject: Mapping[str, Any] | None, label: SourceLabel) -> BuildSystem:
    """The ``[build-system]`` of a parsed ``pyproject.toml`` (None: no file), with the PEP defaults."""
    table = (pyproject or {}).get("build-system")
    if table is None:
        return BuildSystem(DEFAULT_REQUIRES, LEGACY_BACKEND, legacy=True)

    def invalid(what: str) -> InvalidSdist:
        return InvalidSdist(
            f"`pyproject.toml` of `{label}` has an invalid `[build-system]`: {what}",
            context={"package": str(label)},
            hints=["PEP 518: `requires` is a list of requirement strings; "
                   "PEP 517: `build-backend` is a `module:object` string"],
        )

    if not isinstance(table, Mapping):
        raise invalid("it is not a table")
    requires = table.get("requires")
    if requires is None:
        raise invalid("`requires` is missing")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise invalid("`requires` is not a list of strings")
    for text in requires:
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            raise invalid(f"`{text}` is not a valid requirement ({exc})") from exc
    backend = table.get("build-backend")
    if backend is None:
        backend = LEGACY_BACKEND
    if not isinstance(backend, str) or not backend.strip():
        raise invalid("`build-backend` is not a string")
    backend_path = table.get("backend-path", [])
    if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
        raise invalid("`backend-path` is not a list of strings")
    for entry in backend_path:
        parts = entry.replace("\\", "/").split("/")
        if entry.startswith(("/", "\\")) or ".." in parts or (len(entry) > 1 and entry[1] == ":"):
            raise invalid(f"`backend-path` entry `{entry}` is not a directory inside the source tree")
    return BuildSystem(tuple(requires), backend.strip(), tuple(backend_path))


def read_source_tree(tree: Path, label: SourceLabel) -> tuple[BuildSystem, SourceLabel]:
    """The tree's build system, and a label improved by ``[project]`` when it names the package."""
    pyproject = _read_pyproject(tree, label)
    build_system = parse_build_system(pyproject, label)
    project = (pyproject or {}).get("project")
    if isinstance(project, Mapping) and isinstance(project.get("name"), str):
        version = project.get("version") if isinstance(project.get("version"), str) else label.version
        label = SourceLabel(project["name"], version, label.fallback)
    return build_system, label


def label_for_sdist(archive: Path) -> SourceLabel:
    """``name==version`` from an sdist's file name when it follows the spec, else the file name."""
    try:
        name, version = parse_sdist_filename(archive.name)
    except (InvalidSdistFilename, InvalidVersion):
        return SourceLabel(None, None, archive.name)
    return SourceLabel(str(name), str(version), archive.name)


def label_for_tree(tree: Path) -> SourceLabel:
    return SourceLabel(None, None, tree.name or str(tree))


def parse_core_metadata(data: bytes, source: str) -> Metadata:
    """Core metadata, strict about the fields resolution reads and lenient about the rest."""
    try:
        metadata = Metadata.from_email(data, validate=False)
        metadata.name, metadata.version  # noqa: B018 - touching a field validates it
        metadata.requires_dist, metadata.requires_python, metadata.provides_extra, metadata.dynamic  # noqa: B018
    except Exception as exc:  # InvalidMetadata, ExceptionGroup, ValueError from packaging
        inner = getattr(exc, "exceptions", None)
        reason = "; ".join(str(e) for e in inner) if inner else str(exc)
        raise InvalidMetadata(
            f"invalid metadata in `{source}`: {reason}",
            context={"source": source},
            detail=str(exc),
        ) from None
    return metadata


def static_metadata(pkg_info: bytes, source: str) -> Metadata | None:
    """``PKG-INFO`` as metadata when PEP 643 makes it reliable for resolution; None otherwise."""
    try:
        metadata = parse_core_metadata(pkg_info, source)
        version = Version(metadata.metadata_version)
    except (InvalidMetadata, InvalidVersion, TypeError):
        return None  # unreadable PKG-INFO: the build decides
    if version < Version("2.2"):
        return None
    dynamic = {canonicalize_name(d) for d in (metadata.dynamic or [])}
    if dynamic & RESOLUTION_FIELDS:
        return None
    return metadata
