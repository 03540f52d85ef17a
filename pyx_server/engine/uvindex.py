"""uv's ``[[tool.uv.index]]`` entry, one model for scripts (PEP 723 blocks) and projects.

pyx writes index and GPU-variant choices the way uv does, so a script, a notebook or a
project edited by pyx runs unchanged under ``uv run``. Both kinds of declaration read and
write these tables through this one dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the keys the model types; any other key uv knows is carried along in ``other``
_KNOWN = ("name", "url", "default", "explicit", "format")


@dataclass(frozen=True)
class UvIndex:
    """One ``[[tool.uv.index]]`` entry: a named index, uv's way to pin packages to an index."""

    url: str
    name: str | None = None
    #: replaces the default index
    default: bool = False
    #: used only by packages whose ``tool.uv.sources`` entry names it
    explicit: bool = False
    #: ``simple`` (an index) or ``flat`` (a find-links style directory / page)
    format: str = "simple"
    #: keys uv knows that pyx carries along untouched (``publish-url``, ``authenticate``…)
    other: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, entry: Mapping[str, Any]) -> UvIndex:
        """The entry of a checked table (its ``url`` is a string)."""
        return cls(url=entry["url"], name=entry.get("name"), default=bool(entry.get("default", False)),
                   explicit=bool(entry.get("explicit", False)), format=str(entry.get("format", "simple")),
                   other={k: v for k, v in entry.items() if k not in _KNOWN})

    def to_toml(self) -> dict[str, Any]:
        """The table as uv writes it (only non-default keys, uv's key order)."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["url"] = self.url
        if self.default:
            out["default"] = True
        if self.explicit:
            out["explicit"] = True
        if self.format != "simple":
            out["format"] = self.format
        out.update(self.other)
        return out

    def same_index(self, other: UvIndex) -> bool:
        """Whether ``other`` names the same index (same name, or same URL)."""
        return (self.name is not None and self.name == other.name) or self.url.rstrip("/") == other.url.rstrip("/")
