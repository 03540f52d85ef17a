"""Pure edits of a block's TOML text through tomlkit, keeping its comments and layout.

The shapes follow what uv writes, so a file pyx edited runs unchanged under ``uv run`` and
juv: ``requires-python`` first, then a ``dependencies`` array (one requirement per line,
four-space indent, trailing comma, once pyx has added to it), ``[[tool.uv.index]]`` tables
and ``[tool.uv.sources]`` entries as inline tables (``torch = { index = "pytorch-cu121" }``).

Dependency edits follow ``uv add``: a requirement replaces the entry with the same name and
the same marker, in place; a new one goes where it sorts when the list is already sorted,
else at the end. A single-line array becomes a multi-line one when pyx adds to it; an array
already spread over lines keeps its own indentation. Removal drops every entry of the name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import tomlkit
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from tomlkit.items import AoT, Array, InlineTable, Item, String, Table, Whitespace

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class EditProblem(Exception):
    """An edit that cannot be made as asked (a name that is not declared, a key that is no table)."""

    def __init__(self, message: str, *, hints: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints)


def add_dependencies(content: str, requirements: Sequence[Requirement], *, replace_same_name: bool = True) -> str:
    """``content`` with ``requirements`` added to ``dependencies`` (created when missing)."""
    doc = tomlkit.parse(content)
    deps = doc.get("dependencies")
    created = deps is None
    if created:
        deps = tomlkit.array()
    assert isinstance(deps, Array)
    was_multiline = "\n" in deps.as_string()
    changed = False
    for req in requirements:
        text = str(req)
        current = [str(item) for item in deps]
        if text in current:
            continue
        matches = [i for i, item in enumerate(current) if _same_slot(item, req)] if replace_same_name else []
        changed = True
        if matches:
            deps[matches[0]] = _string(text)
            for index in reversed(matches[1:]):
                del deps[index]
            continue
        position = _sorted_position(current, req)
        if position is None or position == len(deps):
            deps.append(_string(text))
        else:
            deps.insert(position, _string(text))
    if not changed:
        return content
    if not was_multiline:
        deps.multiline(True)
    if created:
        doc["dependencies"] = deps  # tomlkit places a new plain key before the first table
    return doc.as_string()


def remove_dependencies(content: str, names: Sequence[str]) -> str:
    """``content`` without any ``dependencies`` entry of ``names``; each name must be declared."""
    doc = tomlkit.parse(content)
    deps = doc.get("dependencies")
    entries = [str(item) for item in deps] if isinstance(deps, Array) else []
    declared = {_name(entry) for entry in entries}
    wanted = [canonicalize_name(name) for name in names]
    missing = [name for name, canon in zip(names, wanted) if canon not in declared]
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        raise EditProblem(
            f"{listed} {'is' if len(missing) == 1 else 'are'} not declared in `dependencies`",
            hints=[f"declared: {', '.join(f'`{e}`' for e in entries) or 'nothing'}"],
        )
    assert isinstance(deps, Array)
    for index in reversed(range(len(entries))):
        if _name(entries[index]) in wanted:
            del deps[index]
    return doc.as_string()


def set_requires_python(content: str, specifier: str) -> str:
    """``content`` with ``requires-python`` set; a new key goes first, where uv writes it."""
    doc = tomlkit.parse(content)
    if "requires-python" in doc:
        if doc["requires-python"] == specifier:
            return content
        doc["requires-python"] = specifier
        return doc.as_string()
    return f"requires-python = {json.dumps(specifier)}\n" + content


def set_tool(content: str, dotted_key: str, value: Any) -> str:
    """``content`` with ``tool.<dotted_key>`` set to ``value`` (None removes it).

    Mappings at ``tool.X`` and ``tool.X.Y`` become tables (``[tool.uv.sources]``), lists of
    mappings there become arrays of tables (``[[tool.uv.index]]``); deeper mappings are inline
    tables (``torch = { index = "cu121" }``). Setting a table that exists updates it key by
    key, so comments and untouched entries stay as they were.
    """
    parts = ["tool", *_split_key(dotted_key)]
    value = _plain(value)
    doc = tomlkit.parse(content)
    container: Any = doc
    for depth, part in enumerate(parts[:-1]):
        child = container.get(part)
        if child is None:
            if value is None:
                return content  # nothing to remove
            sub = _build(parts[depth:], value, depth + 1, inline=isinstance(container, InlineTable))
            _attach(container, part, sub)
            return doc.as_string()
        if not isinstance(child, (Table, InlineTable)):
            raise EditProblem(f"`{'.'.join(parts[: depth + 1])}` is not a table, so `{'.'.join(parts)}` cannot be set in it")
        container = child
    _assign(container, parts[-1], value, len(parts))
    return doc.as_string()


# -- dependencies -------------------------------------------------------------------------


def _string(text: str) -> String:
    """A TOML string for a requirement; a literal one (``'...'``) when it holds double quotes.

    ``packaging`` writes marker values in double quotes; a literal string keeps them readable
    (``'numpy; python_version < "3.9"'``) instead of escaping each one.
    """
    literal = '"' in text and "'" not in text and text.isprintable()
    return tomlkit.string(text, literal=literal)


def _name(entry: str) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(entry).name)
    except Exception:  # checked on read; be lenient with what is already there
        return None


def _same_slot(entry: str, req: Requirement) -> bool:
    """Same name and same marker: the entry ``uv add`` would replace."""
    try:
        old = Requirement(entry)
    except Exception:
        return False
    return canonicalize_name(old.name) == canonicalize_name(req.name) and str(old.marker or "") == str(req.marker or "")


def _sorted_position(entries: list[str], req: Requirement) -> int | None:
    """Where ``req`` sorts when ``entries`` are sorted by name (as uv keeps them), else None."""
    keys = [entry.lower() for entry in entries]
    if keys != sorted(keys):
        return None
    new = str(req).lower()
    return next((i for i, key in enumerate(keys) if key > new), len(entries))


# -- tool tables --------------------------------------------------------------------------


def _split_key(dotted_key: str) -> list[str]:
    parts = [part.strip() for part in dotted_key.split(".")]
    if not dotted_key or not all(parts):
        raise EditProblem(f"`{dotted_key}` is not a dotted key such as `uv.sources`")
    return parts


def _plain(value: Any) -> Any:
    """``value`` as plain TOML data (tuples to lists, mappings to dicts); rejects what TOML cannot hold."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise EditProblem(f"`{value!r}` cannot be written to TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _build(parts: list[str], value: Any, depth: int, *, inline: bool) -> Item:
    """A detached item for key ``parts[0]`` at ``depth`` (``tool`` is 1) holding ``parts[1:]`` = ``value``."""
    if len(parts) == 1:
        return _item(value, depth, inline=inline)
    if inline:
        return _inline(_nest(parts[1:], value))
    child = _build(parts[1:], value, depth + 1, inline=False)
    # a header-less ("super") table only when all it holds is a table: `[tool.uv.sources]`
    table = tomlkit.table(is_super_table=isinstance(child, (Table, AoT)))
    table.append(parts[1], child)
    return table


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _item(value: Any, depth: int, *, inline: bool) -> Item:
    """``value`` as a tomlkit item for a key at ``depth`` (1 for ``tool``, 3 for ``tool.uv.sources``)."""
    if not inline and depth <= 3 and isinstance(value, dict):
        table = tomlkit.table()
        for key, sub in value.items():
            table.append(key, _item(sub, depth + 1, inline=False))
        return table
    if not inline and depth <= 3 and _is_table_list(value):
        aot = tomlkit.aot()
        for entry in value:
            table = tomlkit.table()
            for key, sub in entry.items():
                table.append(key, _item(sub, depth + 2, inline=False))
            aot.append(table)
        return aot
    return _inline(value)


def _inline(value: Any) -> Item:
    """``value`` as an inline TOML value, spaced as uv writes it (``{ index = "x" }``)."""
    return tomlkit.parse(f"x = {_render(value)}\n")["x"]


def _render(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_render(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return tomlkit.item(value).as_string()


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _attach(container: Any, key: str, item: Item) -> None:
    if isinstance(container, InlineTable):
        container[key] = item
    else:
        container.append(key, item)


def _assign(container: Any, key: str, value: Any, depth: int) -> None:
    """Set ``key`` in ``container``, changing as little of the existing item as possible."""
    existing = container.get(key)
    if value is None:
        if existing is not None:
            del container[key]
        return
    if existing is not None and _unwrap(existing) == value:
        return
    if isinstance(value, dict) and isinstance(existing, (Table, InlineTable)):
        for old in [k for k in existing if k not in value]:
            del existing[old]
        for sub_key, sub_value in value.items():
            _assign(existing, sub_key, sub_value, depth + 1)
        return
    if isinstance(existing, AoT) and _is_table_list(value):
        tables = list(existing.body)
        if len(tables) <= len(value):
            for table, entry in zip(tables, value):
                _assign_table(table, entry, depth)
            for entry in value[len(tables) :]:
                _append_table(existing, _item([entry], depth, inline=False).body[0])  # type: ignore[union-attr]
            return
    item = _item(value, depth, inline=isinstance(container, InlineTable))
    if existing is not None:
        container[key] = item
    else:
        _attach(container, key, item)


def _append_table(aot: AoT, table: Table) -> None:
    """Append to an array of tables with one blank line between entries, as uv writes them.

    tomlkit keeps the blank line that ends the last entry inside that entry; it moves to the
    new last entry, and the new entry is set apart from the previous one by a blank line.
    """
    last = aot.body[-1]
    body = last.value.body
    trailing = body.pop() if body and body[-1][0] is None and isinstance(body[-1][1], Whitespace) else None
    table.trivia.indent = "\n"
    aot.append(table)
    if trailing is not None:
        table.value.body.append(trailing)


def _assign_table(table: Table, entry: dict[str, Any], depth: int) -> None:
    for old in [k for k in table if k not in entry]:
        del table[old]
    for key, value in entry.items():
        _assign(table, key, value, depth + 2)


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item
