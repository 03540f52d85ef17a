"""Dependency arrays edited as text, so everything around the edited value survives byte for byte.

tomlkit's own array rendering is not used for dependency arrays: the array's original text is
edited as text (entries replaced in place, new ones appended in the array's own style — one per
line with the same indentation and trailing-comma habit if it was multi-line; inline if it was
inline and stays short — and removed entries take their line and end-of-line comment with
them), then parsed back by tomlkit and put in place of the old value. An empty array grows the
way uv grows it (one entry per line, four spaces, trailing comma), so a file edited by pyx and
by uv reads alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from tomlkit.items import Array

from pyx_server.engine.project.model import LINE_LIMIT, _INDENT, _error
from pyx_server.engine.project.tomltext import _Span, _attached_start, _line_end, _line_start, _scan


class _ArrayText:
    """Edits one array's source text, keeping its layout; ``text`` is the result so far."""

    def __init__(self, text: str, key: str, newline: str) -> None:
        self.text = text
        self.key = key
        self.newline = newline
        self.inline = "\n" not in text

    def values(self) -> list[_Span]:
        return _scan(self.text)[0]

    def value_text(self, span: _Span) -> str:
        return self.text[span.start : span.end]

    def quote(self) -> str:
        """The quote character most entries use (``"`` on a tie or in an empty array)."""
        firsts = [self.text[span.start] for span in self.values()]
        return "'" if firsts.count("'") > firsts.count('"') else '"'

    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]

    def replace(self, index: int, literal: str) -> None:
        span = self.values()[index]
        self._splice(span.start, span.end, literal)

    def append(self, literal: str) -> None:
        values, close = _scan(self.text)
        s, nl = self.text, self.newline
        strings = [i for i, v in enumerate(values) if s[v.start] in "\"'"]
        if strings and strings[-1] != len(values) - 1:
            # after the last requirement, before trailing `{include-group = ...}` entries (as uv)
            following = values[strings[-1] + 1]
            line = _line_start(s, following.start)
            if line > 0 and s[line : following.start].strip() == "":
                at = _attached_start(s, line)
                self._splice(at, at, f"{s[line : following.start]}{literal},{nl}")
            else:
                self._splice(following.start, following.start, f"{literal}, ")
            return
        if not values and "\n" not in s:
            # `[]` grows the way uv grows it: one entry per line, trailing comma
            self.text = f"[{nl}{_INDENT}{literal},{nl}]"
            self.inline = False
            return
        if "\n" not in s:
            last = values[-1]
            if last.comma is None:
                self._splice(last.end, last.end, f", {literal}")
            else:
                self._splice(last.comma + 1, last.comma + 1, f" {literal},")
            return
        indent = self._indent(values)
        last = values[-1] if values else None
        trailing = last is None or last.comma is not None
        comma = "," if trailing else ""
        if last is not None and last.comma is None:
            self._splice(last.end, last.end, ",")
            values, close = _scan(self.text)
            last = values[-1]
        s = self.text
        close_line = _line_start(s, close)
        if close_line > 0 and s[close_line:close].strip() == "":
            self._splice(close_line, close_line, f"{indent}{literal}{comma}{nl}")
        else:
            anchor = last.comma + 1 if last is not None and last.comma is not None else 1
            self._splice(anchor, anchor, f"{nl}{indent}{literal}{comma}")

    def _indent(self, values: list[_Span]) -> str:
        s = self.text
        for span in reversed(values):
            before = s[_line_start(s, span.start) : span.start]
            if before.strip() == "" and _line_start(s, span.start) > 0:
                return before
        for line in s.splitlines()[1:]:
            stripped = line.lstrip(" \t")
            if stripped.startswith("#"):
                return line[: len(line) - len(stripped)]
        return _INDENT

    def remove(self, index: int) -> None:
        values, close = _scan(self.text)
        s = self.text
        span = values[index]
        start_line = _line_start(s, span.start)
        end_line = _line_end(s, span.end)
        following = values[index + 1].start if index + 1 < len(values) else close
        alone = (
            start_line > 0
            and s[start_line : span.start].strip() == ""
            and following > end_line
            and end_line < len(s)
        )
        if alone:
            # the entry's whole line goes, with its end-of-line comment
            self._splice(start_line, end_line + 1, "")
            if index == len(values) - 1 and span.comma is None and index > 0:
                previous = values[index - 1]
                if previous.comma is not None:
                    self._splice(previous.comma, previous.comma + 1, "")
        elif index > 0 and values[index - 1].comma is not None:
            # from the previous entry's comma: the entries after keep their own layout
            self._splice(values[index - 1].comma, span.end, "")
        elif index + 1 < len(values):
            self._splice(span.start, values[index + 1].start, "")
        else:
            self._splice(span.start, span.comma + 1 if span.comma is not None else span.end, "")
        if not _scan(self.text)[0] and "#" not in self.text:
            self.text = "[]"

    def finish(self) -> str:
        """The edited text; an inline array that grew too long goes one entry per line."""
        if self.inline and "\n" not in self.text and len(self.key) + 3 + len(self.text) > LINE_LIMIT:
            nl = self.newline
            body = "".join(f"{_INDENT}{self.value_text(v)},{nl}" for v in self.values())
            self.text = f"[{nl}{body}]"
        return self.text


def _toml_string(text: str, quote: str) -> str:
    """A TOML string literal for ``text``: a literal string when the array uses them and can."""
    if quote == "'" and "'" not in text and "\n" not in text:
        return f"'{text}'"
    return tomlkit.string(text).as_string()


def format_requirement(req: Requirement, *, quote: str = '"') -> str:
    """How pyx writes a requirement: packaging's normal form; inside ``"…"`` strings the
    marker uses single quotes (as uv writes it) so nothing needs escaping."""
    text = str(req)
    if quote == '"' and req.marker is not None:
        marker = str(req.marker)
        swapped = marker.replace('"', "'")
        if "'" not in marker and text.endswith(marker) and str(Marker(swapped)) == marker:
            text = text[: -len(marker)] + swapped
    return text


def _merge(old: Requirement, new: Requirement) -> Requirement:
    """uv's update rule: extras are united, a new version or URL replaces the old one, the
    marker is kept unless a new one is given."""
    merged = Requirement(str(old))
    merged.extras = set(old.extras) | set(new.extras)
    if new.url:
        merged.url = new.url
        merged.specifier = SpecifierSet()
    elif str(new.specifier):
        merged.specifier = new.specifier
        merged.url = None
    if new.marker is not None:
        merged.marker = new.marker
    return merged


def _same_marker(a: Requirement, b: Requirement) -> bool:
    return (a.marker is None and b.marker is None) or (
        a.marker is not None and b.marker is not None and str(a.marker) == str(b.marker)
    )


def _parse_array(text: str, newline: str) -> Array:
    return tomlkit.parse(f"x = {text}{newline}")["x"]


def _add_to_array(
    container: Any, key: str, reqs: Sequence[Requirement], newline: str, where: str, path: Path
) -> None:
    """Add or update ``reqs`` in the array ``container[key]`` (uv's matching: name and marker)."""
    item = container[key]
    if not isinstance(item, Array):
        raise _error(path, f"`{where}` must be an array")
    edit = _ArrayText(item.as_string(), key, newline)
    for req in reqs:
        name = canonicalize_name(req.name)
        entries = item.unwrap() if edit.text == item.as_string() else _parse_array(edit.text, newline).unwrap()
        matches = []
        for position, entry in enumerate(entries):
            if isinstance(entry, str):
                existing = Requirement(entry)
                if canonicalize_name(existing.name) == name and _same_marker(existing, req):
                    matches.append((position, existing))
        if len(matches) > 1:
            raise _error(
                path,
                f"`{req.name}` appears {len(matches)} times in `{where}` with the same marker; which one to"
                " replace is ambiguous",
                hints=["Remove the duplicates, then add again."],
            )
        if matches:
            position, existing = matches[0]
            span = edit.values()[position]
            quote = edit.text[span.start] if edit.text[span.start] in "\"'" else '"'
            merged = _merge(existing, req)
            if str(merged) != str(existing):
                edit.replace(position, _toml_string(format_requirement(merged, quote=quote), quote))
        else:
            quote = edit.quote()
            edit.append(_toml_string(format_requirement(req, quote=quote), quote))
    _put_array(container, key, item, edit, newline)


def _put_array(container: Any, key: str, item: Array, edit: _ArrayText, newline: str) -> None:
    new = edit.finish()
    if new != item.as_string():
        container[key] = _parse_array(new, newline)


def _remove_from_array(container: Any, key: str, names: Sequence[NormalizedName], newline: str) -> set[str]:
    """Remove every entry naming one of ``names``; the names actually found."""
    item = container[key]
    if not isinstance(item, Array):
        return set()
    edit = _ArrayText(item.as_string(), key, newline)
    found: set[str] = set()
    for position in reversed(range(len(item))):
        entry = item[position]
        if isinstance(entry, str):
            name = canonicalize_name(Requirement(str(entry)).name)
            if name in names:
                edit.remove(position)
                found.add(name)
    _put_array(container, key, item, edit, newline)
    return found
