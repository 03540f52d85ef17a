"""Pure nbformat 4 handling: which cell holds the block, and edits spliced into the JSON text.

A notebook is never re-serialized. Edits replace exactly one JSON value (a cell's
``source``) or insert one cell into ``cells``; every other byte of the file — other cells,
outputs with their base64 images, cell ids, widget state, key order, indentation, escaping,
the trailing newline or its absence — stays as it was. The few bytes written follow the
file's own conventions, detected from it: the indent step (JupyterLab and juv write one
space), ``ensure_ascii`` (nbformat writes non-ASCII characters as they are), and whether
cell sources are lists of lines (nbformat) or single strings.

The notebook's block lives in its first code cell holding a ``# /// script`` block, the
convention juv follows (juv puts it in a top cell hidden with ``jupyter.source_hidden``).
Code cells that start with a cell magic (``%%writefile``, ``%%bash``…) are not Python and
are skipped, so a tutorial cell that writes a script to disk is not mistaken for the
notebook's own metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.decoder import scanstring
from typing import Any

_WS = " \t\n\r"
_DECODER = json.JSONDecoder()
_NON_ASCII_ESCAPE = re.compile(r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})")


class NotebookProblem(Exception):
    """The text is not an nbformat 4 notebook pyx can edit; ``line``/``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, cell: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        #: 0-based index of the cell the problem is in, when it is in one
        self.cell = cell


@dataclass(frozen=True)
class Cell:
    """One cell as read: its position, kind, id, and source joined into one text."""

    index: int
    cell_type: str
    cell_id: str | None
    source: str
    #: the source was stored as a list of lines (nbformat's form) rather than one string
    source_is_list: bool

    @property
    def is_python(self) -> bool:
        """A code cell whose text is Python (not a ``%%`` cell magic)."""
        return self.cell_type == "code" and not self.source.lstrip().startswith("%%")


def load_json(text: str) -> dict[str, Any]:
    """The notebook's top-level JSON object; ``NotebookProblem`` when the text is not one.

    Every reader of notebook JSON goes through here, so malformed input (not JSON, nested
    deeper than the parser's recursion allows, a top level or ``metadata`` that is not an
    object) is one coded error, never a traceback.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookProblem(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        # the C scanner gives up after about a thousand levels, so this costs linear time
        raise NotebookProblem("not a notebook: its JSON is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise NotebookProblem("not a notebook: the JSON is not an object")
    if not isinstance(data.get("metadata", {}), dict):
        raise NotebookProblem(f"not a notebook: `metadata` is {_kind(data['metadata'])}, not an object")
    return data


def _kind(value: Any) -> str:
    """How a message names a JSON value's type: ``null``, a list, a string …"""
    if value is None:
        return "`null`"
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "not an object")


def parse(text: str) -> tuple[dict[str, Any], list[Cell]]:
    """The notebook's JSON and its cells; ``NotebookProblem`` when it is not nbformat 4."""
    data = load_json(text)
    version = data.get("nbformat")
    if version != 4:
        raise NotebookProblem(
            f"nbformat `{version}` is not supported, only nbformat 4"
            if version is not None
            else "not a notebook: no `nbformat` field"
        )
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise NotebookProblem("not a notebook: `cells` is not a list")
    out: list[Cell] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookProblem("not a cell object with a `cell_type`", cell=index)
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            joined, is_list = "".join(source), True
        elif isinstance(source, str):
            joined, is_list = source, False
        else:
            raise NotebookProblem("`source` must be a string or a list of strings", cell=index)
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
        out.append(Cell(index, cell["cell_type"], cell_id, joined, is_list))
    return data, out


# -- locating values in the JSON text -----------------------------------------------------


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _value_end(text: str, pos: int) -> int:
    _, end = _DECODER.raw_decode(text, pos)
    return end


def _members(text: str, pos: int) -> tuple[list[tuple[str, int, int, int]], int]:
    """An object's members as (key, key start, value start, value end) and the position of its ``}``."""
    assert text[pos] == "{"
    members: list[tuple[str, int, int, int]] = []
    pos = _skip(text, pos + 1)
    if text[pos] == "}":
        return members, pos
    while True:
        key_start = pos
        key, pos = scanstring(text, pos + 1)
        pos = _skip(text, pos)
        pos = _skip(text, pos + 1)  # the ':'
        end = _value_end(text, pos)
        members.append((key, key_start, pos, end))
        pos = _skip(text, end)
        if text[pos] == "}":
            return members, pos
        pos = _skip(text, pos + 1)  # the ','


def _elements(text: str, pos: int) -> tuple[list[tuple[int, int]], int]:
    """An array's elements as (start, end) and the position of its ``]``."""
    assert text[pos] == "["
    elements: list[tuple[int, int]] = []
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return elements, pos
    while True:
        end = _value_end(text, pos)
        elements.append((pos, end))
        pos = _skip(text, end)
        if text[pos] == "]":
            return elements, pos
        pos = _skip(text, pos + 1)


def _member(text: str, obj_start: int, key: str) -> tuple[int, int] | None:
    for name, _, start, end in _members(text, obj_start)[0]:
        if name == key:
            return start, end
    return None


def _line_indent(text: str, pos: int) -> str:
    """The blanks that start the line holding ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


@dataclass(frozen=True)
class Style:
    """How the file writes JSON: the indent step (None: all on one line) and escaping."""

    indent: str | None
    ensure_ascii: bool
    key_separator: str
    item_separator: str
    #: ``\r\n`` for a notebook saved with Windows line endings
    newline: str = "\n"


def detect_style(text: str) -> Style:
    """The JSON conventions of ``text``, so that inserted bytes look like the rest."""
    start = _skip(text, 0)
    members, _ = _members(text, start)
    indent: str | None = None
    if members and "\n" in text[start : members[0][1]]:
        indent = _line_indent(text, members[0][1])
    key_sep = ": "
    item_sep = ","
    if members:
        # between the first key's closing quote and its value
        between = text[text.rfind('"', 0, members[0][2]) + 1 : members[0][2]]
        key_sep = between if between.strip() == ":" else ": "
        if indent is None and len(members) > 1:
            gap = text[members[0][3] : members[1][1]]
            item_sep = gap if gap.strip() == "," else ", "
    has_raw = not text.isascii()
    ensure_ascii = not has_raw and bool(_NON_ASCII_ESCAPE.search(text))
    newline = "\r\n" if members and "\r\n" in text[: members[0][1]] else "\n"
    return Style(indent, ensure_ascii, key_sep, item_sep, newline)


def _dumps(value: Any, style: Style, base_indent: str) -> str:
    """``value`` as JSON in ``style``, its continuation lines shifted right by ``base_indent``."""
    if style.indent is None:
        return json.dumps(value, ensure_ascii=style.ensure_ascii, separators=(style.item_separator, style.key_separator))
    out = json.dumps(value, ensure_ascii=style.ensure_ascii, indent=style.indent, separators=(",", style.key_separator))
    return out.replace("\n", style.newline + base_indent)


def _cells_array(text: str) -> tuple[int, int]:
    top = _skip(text, 0)
    span = _member(text, top, "cells")
    assert span is not None  # parse() checked it
    return span


def replace_source(text: str, cell_index: int, new_source: str) -> str:
    """``text`` with one cell's ``source`` replaced, in the form (list or string) it had.

    In list form, lines that did not change keep their original JSON bytes.
    """
    style = detect_style(text)
    cells_start, _ = _cells_array(text)
    elements, _ = _elements(text, cells_start)
    cell_start, _ = elements[cell_index]
    span = _member(text, cell_start, "source")
    if span is None:
        raise NotebookProblem("the cell has no `source`", cell=cell_index)
    start, end = span
    if text[start] != "[":
        return text[:start] + json.dumps(new_source, ensure_ascii=style.ensure_ascii) + text[end:]
    return text[:start] + _source_list(text, start, new_source, style) + text[end:]


def _source_list(text: str, start: int, new_source: str, style: Style) -> str:
    items, close = _elements(text, start)
    old_raw = [text[a:b] for a, b in items]
    old_values = [json.loads(raw) for raw in old_raw]
    new_values = new_source.splitlines(keepends=True)
    if items:
        opening = text[start + 1 : items[0][0]]
        closing = text[items[-1][1] : close]
        separator = text[items[0][1] : items[1][0]] if len(items) > 1 else "," + opening
    else:
        base = _line_indent(text, start)
        if style.indent is None:
            opening, closing, separator = "", "", style.item_separator
        else:
            opening, closing = style.newline + base + style.indent, style.newline + base
            separator = "," + opening
    rendered: list[str] = []
    raw_by_value: dict[str, list[str]] = {}
    for value, raw in zip(old_values, old_raw):
        raw_by_value.setdefault(value, []).append(raw)
    for value in new_values:
        reuse = raw_by_value.get(value)
        rendered.append(reuse.pop(0) if reuse else json.dumps(value, ensure_ascii=style.ensure_ascii))
    if not rendered:
        return "[]"
    return "[" + opening + separator.join(rendered) + closing + "]"


def insert_cell(text: str, source: str, *, hidden: bool, list_source: bool = True) -> str:
    """``text`` with a new first code cell holding ``source``, shaped as juv writes it.

    The cell is hidden (``metadata.jupyter.source_hidden``) like juv's metadata cell, and
    gets a fresh ``id`` when the notebook's minor version (4.5+) calls for cell ids.
    """
    style = detect_style(text)
    data = json.loads(text)
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None}
    minor = data.get("nbformat_minor")
    if isinstance(minor, int) and minor >= 5:
        import uuid

        taken = {c.get("id") for c in data.get("cells", []) if isinstance(c, dict)}
        cell_id = uuid.uuid4().hex[:8]
        while cell_id in taken:
            cell_id = uuid.uuid4().hex[:8]
        cell["id"] = cell_id
    cell["metadata"] = {"jupyter": {"source_hidden": True}} if hidden else {}
    cell["outputs"] = []
    cell["source"] = source.splitlines(keepends=True) if list_source else source
    cells_start, cells_end = _cells_array(text)
    elements, close = _elements(text, cells_start)
    if elements:
        first = elements[0][0]
        if len(elements) > 1:
            separator = text[elements[0][1] : elements[1][0]]
        else:
            separator = "," + text[cells_start + 1 : first]
        rendered = _dumps(cell, style, _line_indent(text, first) if style.indent is not None else "")
        return text[:first] + rendered + separator + text[first:]
    base = _line_indent(text, cells_start)
    if style.indent is None:
        inner = _dumps(cell, style, "")
    else:
        inner = style.newline + base + style.indent + _dumps(cell, style, base + style.indent) + style.newline + base
    return text[: cells_start + 1] + inner + text[close:]
