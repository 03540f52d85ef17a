"""TOML as text: scanning values, finding table headers and whole sections, inserting and
removing them, rendering uv-shaped tables, and checking that an edit leaves a valid project.

Edits work on the file's text rather than re-rendering it, so comments, blank lines, key
order and quoting outside the edited value survive byte for byte.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from packaging.utils import InvalidName, canonicalize_name

from pyx_server.engine.project.model import UvSource, _INDENT
from pyx_server.engine.project.reading import project_from_text
from pyx_server.engine.uvindex import UvIndex


@dataclass
class _Span:
    start: int
    end: int
    comma: int | None = None


_WS = " \t\r\n"


def _skip_string(s: str, i: int) -> int:
    """Index just past the TOML string starting at ``i`` (the text is known to be valid TOML)."""
    for quote in ('"""', "'''"):
        if s.startswith(quote, i):
            j = i + 3
            while True:
                if quote == '"""' and s[j] == "\\":
                    j += 2
                    continue
                if s.startswith(quote, j):
                    k = j + 3
                    while k < len(s) and s[k] == quote[0] and k - j < 5:
                        k += 1
                    return k
                j += 1
    if s[i] == '"':
        j = i + 1
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return j + 1
    return s.index("'", i + 1) + 1


def _skip_value(s: str, i: int) -> int:
    if s[i] in "\"'":
        return _skip_string(s, i)
    if s[i] in "[{":
        depth, j = 0, i
        while True:
            c = s[j]
            if c in "\"'":
                j = _skip_string(s, j)
                continue
            if c == "#":
                j = _line_end(s, j)
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
    j = i
    while j < len(s) and s[j] not in ",]#" and s[j] not in _WS:
        j += 1
    return j


def _line_start(s: str, i: int) -> int:
    return s.rfind("\n", 0, i) + 1


def _line_end(s: str, i: int) -> int:
    """Index of the newline ending the line holding ``i`` (or the end of the text)."""
    at = s.find("\n", i)
    return len(s) if at < 0 else at


def _scan(s: str) -> tuple[list[_Span], int]:
    """The top-level values of the array text ``s`` and the index of its closing bracket."""
    assert s.startswith("[")
    values: list[_Span] = []
    i = 1
    while True:
        c = s[i]
        if c in _WS:
            i += 1
        elif c == "#":
            i = _line_end(s, i)
        elif c == ",":
            values[-1].comma = i
            i += 1
        elif c == "]":
            return values, i
        else:
            end = _skip_value(s, i)
            values.append(_Span(i, end))
            i = end


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _key_for(table: Mapping[str, Any], normal: str) -> str | None:
    for key in table:
        with contextlib.suppress(InvalidName):
            if canonicalize_name(key, validate=True) == normal:
                return key
    return None


def _finish(doc: tomlkit.TOMLDocument, original: str, path: Path) -> str:
    new = tomlkit.dumps(doc)
    if new != original:
        project_from_text(new, path)  # the edit must leave a valid project
    return new


def _plain(value: Any) -> Any:
    """``UvIndex`` / ``UvSource`` as the tables uv writes; sequences as lists."""
    if isinstance(value, (UvIndex, UvSource)):
        return value.to_toml()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _finish_text(new: str, original: str, path: Path) -> str:
    if new != original:
        project_from_text(new, path)
    return new


@dataclass(frozen=True)
class _Header:
    #: offset of the header line
    start: int
    path: tuple[str, ...]
    array: bool


def _headers(text: str) -> list[_Header]:
    """Every ``[table]`` / ``[[array]]`` header line of valid TOML text, in order.

    Walks the top-level lines, stepping over each value with the same scanner the array
    editor uses, so a line starting with ``[`` inside a multi-line string or array is not
    taken for a header.
    """
    out = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j >= n:
            break
        c = text[j]
        if c in "\r\n#":
            i = _line_end(text, j) + 1
            continue
        if c == "[":
            end = _line_end(text, j)
            node: Any = tomlkit.parse(text[j:end]).unwrap()
            path: list[str] = []
            array = False
            while isinstance(node, dict) and len(node) == 1:
                key, node = next(iter(node.items()))
                path.append(key)
                if isinstance(node, list):
                    array = True
                    break
            out.append(_Header(i, tuple(path), array))
            i = end + 1
            continue
        k = j
        while text[k] != "=":
            k = _skip_string(text, k) if text[k] in "\"'" else k + 1
        k += 1
        while text[k] in " \t":
            k += 1
        i = _line_end(text, _skip_value(text, k)) + 1
    return out


def _attached_start(text: str, start: int) -> int:
    """Where the comment lines directly above a header (part of it, to a reader) begin."""
    while start > 0:
        previous = _line_start(text, start - 1)
        if text[previous:start].strip().startswith("#"):
            start = previous
        else:
            break
    return start


def _section_end(text: str, headers: Sequence[_Header], header: _Header) -> int:
    later = [h.start for h in headers if h.start > header.start]
    return _attached_start(text, later[0]) if later else len(text)


def _remove_sections(text: str, sections: Sequence[_Header], newline: str) -> str:
    """Remove whole sections (header, body, comments attached above); last first, so the
    offsets of earlier ones hold. A removal reaching the end leaves one final newline."""
    for header in sorted(sections, key=lambda h: h.start, reverse=True):
        end = _section_end(text, _headers(text), header)
        start = _attached_start(text, header.start)
        if end >= len(text):
            head = text[:start].rstrip("\r\n")
            text = head + newline if head else ""
        else:
            text = text[:start] + text[end:]
    return text


def _block_position(text: str, path: Sequence[str]) -> int:
    """Where a new section for ``path`` goes: after the last section of its closest family
    (``[tool.uv.sources]`` after the ``[tool.uv…]`` sections), else at the end."""
    headers = _headers(text)
    for length in range(len(path), 0, -1):
        family = [h for h in headers if h.path[:length] == tuple(path[:length])]
        if family:
            return _section_end(text, headers, family[-1])
    return len(text)


def _insert_block(text: str, at: int, block: str, newline: str) -> str:
    """Insert a section at ``at`` with one blank line on either side."""
    before, after = text[:at], text[at:]
    if before and not before.endswith("\n"):
        before += newline
    if before.strip() and not before.endswith(("\n\n", "\n\r\n")):
        before += newline
    if after.strip():
        block += newline
    else:
        after = ""
    return before + block + after


def _render_blocks(parts: Sequence[str], value: Any, newline: str) -> str:
    """``[a.b]`` / ``[[a.b]]`` sections for a mapping / list of mappings, one blank line apart."""
    tables = value if isinstance(value, list) else [value]
    brackets = ("[[", "]]") if isinstance(value, list) else ("[", "]")
    blocks = []
    for table in tables:
        lines = [f"{brackets[0]}{_dotted(parts)}{brackets[1]}"]
        lines += [f"{_key(k)} = {_render_inline(v, newline)}" for k, v in table.items()]
        blocks.append(newline.join(lines) + newline)
    return newline.join(blocks)


def _render_inline(value: Any, newline: str) -> str:
    """A value as uv formats it: ``{ a = 1 }`` tables, several tables one per line."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_render_inline(v, newline)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        inner = [_render_inline(v, newline) for v in value]
        if _is_table_list(value) and len(value) > 1:
            return "[" + newline + "".join(f"{_INDENT}{v},{newline}" for v in inner) + "]"
        return "[" + ", ".join(inner) + "]"
    return tomlkit.item(value).as_string()


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else tomlkit.string(key).as_string()


def _dotted(parts: Sequence[str]) -> str:
    return ".".join(_key(p) for p in parts)
