"""What a ``script`` block declares, as typed data, and the key of the environment it needs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pyx_server.engine.errors import Location
from pyx_server.engine.uvindex import UvIndex

#: ``[tool.uv]`` settings that change what gets installed, so they are part of the key
_UV_RESOLUTION_KEYS = (
    "index",
    "sources",
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "index-strategy",
    "prerelease",
    "resolution",
    "exclude-newer",
    "constraint-dependencies",
    "override-dependencies",
)


@dataclass(frozen=True)
class BlockLocation:
    """Where a block sits: the file, the cell of a notebook, and its lines (for edits and errors)."""

    path: Path
    #: 1-based line of ``# /// script`` (in the file, or in the cell for a notebook)
    start_line: int
    #: 1-based line of the closing ``# ///``
    end_line: int
    #: 0-based index in the notebook's ``cells``; None for a script
    cell: int | None = None
    cell_id: str | None = None

    def location(self, line: int | None = None) -> Location:
        """An ``errors.Location`` in the block (its opening line unless ``line`` is given)."""
        return Location(str(self.path), line if line is not None else self.start_line, cell=self.cell)


@dataclass(frozen=True)
class ScriptMetadata:
    """The checked content of a PEP 723 ``script`` block."""

    dependencies: tuple[str, ...]
    requires_python: str | None
    #: the ``[tool]`` table (``tool.uv`` for uv's settings, ``tool.pyx`` for pyx's own)
    tool: Mapping[str, Any]
    #: the TOML text of the block, comment prefixes removed
    raw: str
    location: BlockLocation

    def __post_init__(self) -> None:
        if not isinstance(self.tool, MappingProxyType):
            object.__setattr__(self, "tool", MappingProxyType(dict(self.tool)))

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """``dependencies`` parsed (they were checked when the block was read)."""
        return tuple(Requirement(dep) for dep in self.dependencies)

    @property
    def python_specifier(self) -> SpecifierSet | None:
        """``requires-python`` parsed (checked when read); None when the block does not say."""
        return SpecifierSet(self.requires_python) if self.requires_python is not None else None

    @property
    def uv(self) -> Mapping[str, Any]:
        """The ``[tool.uv]`` table (empty when absent)."""
        uv = self.tool.get("uv")
        return uv if isinstance(uv, Mapping) else {}

    @property
    def uv_indexes(self) -> tuple[UvIndex, ...]:
        """The ``[[tool.uv.index]]`` entries, in the order uv tries them."""
        return tuple(UvIndex.from_toml(entry) for entry in self.uv.get("index", []))

    @property
    def uv_sources(self) -> Mapping[str, Any]:
        """``[tool.uv.sources]`` keyed by normalized project name."""
        return {canonicalize_name(name): source for name, source in self.uv.get("sources", {}).items()}


def metadata_key(meta: ScriptMetadata) -> str:
    """A stable hash of what decides a script's environment, to key the environment store.

    It covers the dependencies (normalized and sorted, so order, spelling and duplicates do
    not matter), ``requires-python`` and the ``[tool.uv]`` settings that change what is
    installed (indexes, sources, pre-release policy, ``exclude-newer``…), plus ``[tool.pyx]``.
    Comments, layout and the file's location do not change it. The interpreter and GPU
    variant actually chosen are the store's to add.
    """
    payload = {
        "dependencies": sorted({_normalized(req) for req in meta.requirements}),
        "requires-python": str(meta.python_specifier) if meta.python_specifier is not None else None,
        "uv": {key: meta.uv[key] for key in _UV_RESOLUTION_KEYS if key in meta.uv},
        "pyx": meta.tool.get("pyx"),
    }
    if "sources" in payload["uv"]:
        payload["uv"]["sources"] = {str(k): v for k, v in sorted(meta.uv_sources.items())}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _normalized(req: Requirement) -> str:
    """A requirement in one spelling: normalized name, sorted extras, sorted specifiers."""
    out = canonicalize_name(req.name)
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        out += " @ " + req.url
    else:
        out += str(req.specifier)
    if req.marker is not None:
        out += "; " + str(req.marker)
    return out
