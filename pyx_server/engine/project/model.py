"""The typed view of a ``pyproject.toml``: ``Project``, uv's sources, and the project error.

``Project`` is what the verbs, the lock and the fronts read: name, version,
``requires-python``, dependencies, extras, PEP 735 dependency groups with ``include-group``
expanded, and the ``[tool.uv]`` / ``[tool.pyx]`` tables (uv's indexes, ``engine.uvindex``,
and sources as dataclasses, so a project edited by pyx runs unchanged under uv).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from pyx_server.engine.errors import Location, ProjectError
from pyx_server.engine.uvindex import UvIndex


PYPROJECT = "pyproject.toml"


#: the group uv enables when ``tool.uv.default-groups`` is not set
DEFAULT_GROUPS: tuple[str, ...] = ("dev",)


#: an inline array that would make its line longer than this becomes one entry per line
LINE_LIMIT = 88


_INDENT = "    "


#: ``tool.uv.sources`` keys, in the order uv writes them
_SOURCE_KEYS = tuple(
    "index git url path workspace rev tag branch subdirectory editable package marker extra group".split()
)


@dataclass(frozen=True)
class UvSource:
    """One ``tool.uv.sources`` entry for a package: where it comes from, optionally when."""

    index: str | None = None
    git: str | None = None
    url: str | None = None
    path: str | None = None
    workspace: bool | None = None
    rev: str | None = None
    tag: str | None = None
    branch: str | None = None
    subdirectory: str | None = None
    editable: bool | None = None
    package: bool | None = None
    #: a PEP 508 marker limiting the entry (uv's multi-source form)
    marker: str | None = None
    extra: str | None = None
    group: str | None = None

    @property
    def kind(self) -> str:
        """``index``, ``git``, ``url``, ``path`` or ``workspace``."""
        for key in ("index", "git", "url", "path", "workspace"):
            if getattr(self, key) is not None:
                return key
        return "unknown"

    def to_toml(self) -> dict[str, Any]:
        """The inline table uv writes for this source (keys in uv's order, unset ones left out)."""
        return {key: getattr(self, key) for key in _SOURCE_KEYS if getattr(self, key) is not None}


@dataclass(frozen=True)
class Project:
    """A ``pyproject.toml`` as pyx reads it. Requirement strings are kept as written (validated)."""

    #: the ``pyproject.toml`` file
    path: Path
    #: ``None`` for a virtual project (no ``[project]`` table)
    name: NormalizedName | None
    #: ``None`` when missing or listed in ``dynamic``
    version: Version | None
    requires_python: SpecifierSet | None
    dependencies: tuple[str, ...]
    #: extra name (normalized) -> requirements
    optional_dependencies: Mapping[str, tuple[str, ...]]
    #: group name (normalized) -> requirements, ``include-group`` expanded; uv's legacy
    #: ``tool.uv.dev-dependencies`` are part of ``dev``
    dependency_groups: Mapping[str, tuple[str, ...]]
    #: groups enabled unless asked otherwise (``tool.uv.default-groups``, else ``dev``)
    default_groups: tuple[str, ...]
    dynamic: tuple[str, ...] = ()
    uv_indexes: tuple[UvIndex, ...] = ()
    #: package name (normalized) -> its sources (several when they carry markers)
    uv_sources: Mapping[str, tuple[UvSource, ...]] = field(default_factory=dict)
    #: ``[tool.uv]`` and ``[tool.pyx]`` as plain data, for settings this view does not type
    tool_uv: Mapping[str, Any] = field(default_factory=dict)
    tool_pyx: Mapping[str, Any] = field(default_factory=dict)
    #: whether the file has a ``[project]`` table
    has_project_table: bool = True

    @property
    def root(self) -> Path:
        """The project directory (where ``.venv`` and ``pylock.toml`` live)."""
        return self.path.parent

    @property
    def is_virtual(self) -> bool:
        """A project without ``[project]``: only groups and tool settings, nothing to build."""
        return not self.has_project_table


def _error(
    path: Path,
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    hints: Sequence[str] = (),
    cls: type[ProjectError] = ProjectError,
    **context: Any,
) -> ProjectError:
    """An error about the file at ``path``: the file and line go in its ``location``, not its message."""
    return cls(message, context=context, hints=hints, location=Location(str(path), line, column))


def _line_of(text: str | None, needle: str) -> int | None:
    """The 1-based line of the first occurrence of ``needle`` (best effort, for messages)."""
    if not text or not needle:
        return None
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1
