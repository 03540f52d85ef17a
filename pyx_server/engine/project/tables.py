"""``[tool]`` tables as uv writes them: ``tool.uv.index`` entries, ``tool.uv.sources``, any value
under ``[tool]``; whole sections found, inserted and removed as text, comments kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from packaging.utils import InvalidName, canonicalize_name
from tomlkit.items import AoT, Array, InlineTable, Table

from pyx_server.engine.project.files import _edit
from pyx_server.engine.project.model import PYPROJECT, Project, UvSource, _error
from pyx_server.engine.project.reading import _parse, project_from_text
from pyx_server.engine.project.tomltext import _attached_start, _block_position, _dotted, _finish, _finish_text, _headers, _insert_block, _is_table_list, _key, _key_for, _newline, _plain, _remove_sections, _render_blocks, _render_inline
from pyx_server.engine.uvindex import UvIndex


def set_tool_value(path: Path | str, dotted_key: str | Sequence[str], value: Any) -> Project:
    """Set (or, with ``None``, remove) a value under ``[tool]``: ``tool.uv.sources.torch``,
    ``tool.uv.index``, ``tool.pyx.variant``… Give the key as a sequence when a part holds a dot.

    Shapes follow how uv writes its tables: a mapping at ``tool.x.y`` becomes a ``[table]``
    and a list of mappings there an array of tables (``[[tool.uv.index]]``); deeper mappings
    are inline tables (``torch = { index = "cu121" }``). A value that exists keeps its shape.
    """
    return _edit(path, lambda text, p: set_tool_value_in_text(text, dotted_key, value, path=p))


def set_tool_value_in_text(
    text: str, dotted_key: str | Sequence[str], value: Any, *, path: Path | str = PYPROJECT
) -> str:
    """``set_tool_value`` on text (pure)."""
    path = Path(path)
    parts = tuple(dotted_key.split(".")) if isinstance(dotted_key, str) else tuple(dotted_key)
    if len(parts) < 2 or parts[0] != "tool" or not all(parts):
        raise _error(path, f"`{'.'.join(parts)}` is not a key under `[tool]`")
    project_from_text(text, path)
    value = _plain(value)
    doc = _parse(text, path)
    nl = _newline(text)

    # the deepest existing table on the way to the key
    container: Any = doc
    found = 0
    for part in parts[:-1]:
        if part not in container:
            break
        container = container[part]
        if not isinstance(container, (Table, InlineTable)) and not hasattr(container, "keys"):
            raise _error(path, f"`{'.'.join(parts[: found + 1])}` is not a table")
        found += 1
    parent_exists = found == len(parts) - 1
    existing = container[parts[-1]] if parent_exists and parts[-1] in container else None
    headers = [h for h in _headers(text) if h.path[: len(parts)] == parts]

    if value is None:
        if existing is None:
            return text
        if headers:
            return _finish_text(_remove_sections(text, headers, nl), text, path)
        del container[parts[-1]]
        return _finish(doc, text, path)

    wants_header = not isinstance(container, InlineTable) and not isinstance(existing, (InlineTable, Array)) and (
        isinstance(existing, (Table, AoT))
        or (len(parts) <= 3 and (isinstance(value, Mapping) or _is_table_list(value)))
    )
    if wants_header:
        block = _render_blocks(parts, value, nl)
        if existing is not None and not headers:  # an inline or dotted value becomes a table
            del container[parts[-1]]
            text = tomlkit.dumps(doc)
        if headers:
            at = _attached_start(text, headers[0].start)
            new = _remove_sections(text, headers, nl)
            return _finish_text(_insert_block(new, min(at, len(new)), block, nl), text, path)
        return _finish_text(_insert_block(text, _block_position(text, parts), block, nl), text, path)

    rendered = _render_inline(value, nl)
    if parent_exists:
        container[parts[-1]] = tomlkit.parse(f"x = {rendered}{nl}")["x"]
        return _finish(doc, text, path)
    header = parts[:-1]
    block = f"[{_dotted(header)}]{nl}{_key(parts[-1])} = {rendered}{nl}"
    return _finish_text(_insert_block(text, _block_position(text, header), block, nl), text, path)


def add_uv_index(path: Path | str, index: UvIndex) -> Project:
    """Declare ``index`` in ``[[tool.uv.index]]`` as ``uv add --index`` does: an entry with the
    same name (or URL) is replaced, and the index goes first (the first index wins). Other
    entries keep their text, comments included."""
    return _edit(path, lambda text, p: add_uv_index_to_text(text, index, path=p))


def add_uv_index_to_text(text: str, index: UvIndex, *, path: Path | str = PYPROJECT) -> str:
    """``add_uv_index`` on text (pure)."""
    p = Path(path)
    project = project_from_text(text, p)
    if project.uv_indexes and project.uv_indexes[0] == index and not any(
        _same_index(i, index) for i in project.uv_indexes[1:]
    ):
        return text
    key = ("tool", "uv", "index")
    sections = [h for h in _headers(text) if h.path == key]
    if len(sections) != len(project.uv_indexes):  # written inline: `index = [...]`
        others = [i for i in project.uv_indexes if not _same_index(i, index)]
        return set_tool_value_in_text(text, key, [index, *others], path=p)
    nl = _newline(text)
    block = _render_blocks(key, [index.to_toml()], nl)
    if not sections:
        return _finish_text(_insert_block(text, _block_position(text, key), block, nl), text, p)
    # the new entry goes where the first one starts; removals happen at or after it
    at = _attached_start(text, sections[0].start)
    replaced = [h for h, i in zip(sections, project.uv_indexes, strict=True) if _same_index(i, index)]
    new = _remove_sections(text, replaced, nl) if replaced else text
    return _finish_text(_insert_block(new, min(at, len(new)), block, nl), text, p)


def _same_index(a: UvIndex, b: UvIndex) -> bool:
    return a.same_index(b)


def set_uv_source(path: Path | str, package: str, sources: UvSource | Sequence[UvSource] | None) -> Project:
    """Set ``tool.uv.sources.<package>`` (replacing an entry spelled differently), or remove it
    with ``None``: how an index or GPU-variant choice is recorded so that uv honours it too."""
    return _edit(path, lambda text, p: set_uv_source_in_text(text, package, sources, path=p))


def set_uv_source_in_text(
    text: str, package: str, sources: UvSource | Sequence[UvSource] | None, *, path: Path | str = PYPROJECT
) -> str:
    """``set_uv_source`` on text (pure)."""
    p = Path(path)
    try:
        normal = canonicalize_name(package, validate=True)
    except InvalidName:
        raise _error(p, f"invalid package name `{package}`") from None
    if isinstance(sources, UvSource):
        value: Any = sources.to_toml()
    elif sources is not None:
        value = [s.to_toml() for s in sources]
        value = value[0] if len(value) == 1 else value
    else:
        value = None
    table = _parse(text, p).unwrap().get("tool", {}).get("uv", {}).get("sources", {})
    key = _key_for(table, normal) if isinstance(table, dict) else None
    if key is not None and key != normal and value is not None:
        text = set_tool_value_in_text(text, ("tool", "uv", "sources", key), None, path=p)
        key = None
    return set_tool_value_in_text(text, ("tool", "uv", "sources", key or normal), value, path=p)
