"""Reading and editing PEP 723 metadata in files on disk: decoding, and atomic writes.

A script is decoded as Python decodes it (``tokenize.detect_encoding``: UTF-8 by default,
a BOM or a PEP 263 declaration honoured, as the specification allows) and written back in
the same encoding, BOM included. A notebook is UTF-8 JSON. ``edit_text`` gives the new text
and bytes without writing (for a front that owns the document, and for use cases that write
a declaration and its lock together); the writes here go through ``edits.write_atomic``,
which keeps the file's permission bits and follows a symbolic link. When reading or editing
fails, nothing is written.
"""

from __future__ import annotations

import codecs
import io
import os
import tokenize
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyx_server.engine.edits import write_atomic
from pyx_server.engine.errors import InlineMetadataError, Location, UsageError
from pyx_server.engine.inline import document
from pyx_server.engine.inline.document import (
    AddDependencies,
    Edit,
    RemoveDependencies,
    SetRequiresPython,
    SetToolTable,
)
from pyx_server.engine.inline.model import ScriptMetadata


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"`{path}` does not exist", context={"path": path}) from exc
    except IsADirectoryError as exc:
        raise UsageError(f"`{path}` is a directory, not a script or notebook", context={"path": path}) from exc
    except OSError as exc:
        raise UsageError(f"cannot read `{path}`: {exc.strerror or exc}", context={"path": path}) from exc


def _decode(path: Path, data: bytes, notebook: bool) -> tuple[str, str]:
    """The text of ``data`` and the encoding to write it back with."""
    if notebook:
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    else:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            raise InlineMetadataError(exc.msg, location=Location(str(path), exc.lineno)) from exc
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        line = data.count(b"\n", 0, exc.start) + 1 if isinstance(exc, UnicodeDecodeError) else None
        raise InlineMetadataError(
            f"the file cannot be decoded as `{encoding}`: {exc}",
            hints=["save the file as UTF-8" if not notebook else "a notebook is UTF-8 JSON"],
            location=Location(str(path), line),
        ) from exc


def _load(path: Path) -> tuple[str, str, bool]:
    path = Path(path)
    notebook = document.is_notebook(path)
    text, encoding = _decode(path, _read_bytes(path), notebook)
    return text, encoding, notebook


def read_script(path: str | os.PathLike[str]) -> ScriptMetadata | None:
    """The ``# /// script`` block of a Python script; None when it has none."""
    path = Path(path)
    text, _ = _decode(path, _read_bytes(path), notebook=False)
    return document.parse_script(text, path)


def read_notebook(path: str | os.PathLike[str]) -> ScriptMetadata | None:
    """The block of a notebook (its first Python code cell holding one, as juv writes it); None when none."""
    path = Path(path)
    text, _ = _decode(path, _read_bytes(path), notebook=True)
    return document.parse_notebook(text, path)


def read_metadata(path: str | os.PathLike[str]) -> ScriptMetadata | None:
    """The block of a script or a notebook, chosen by suffix (``.ipynb`` is a notebook)."""
    return read_notebook(path) if document.is_notebook(Path(path)) else read_script(path)


def read_text(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The text of a script or notebook on disk, and the encoding it is saved in."""
    text, encoding, _ = _load(Path(path))
    return text, encoding


def encode(path: Path, text: str, encoding: str) -> bytes:
    """``text`` as the bytes to save at ``path`` (its own encoding); a coded error when that
    encoding cannot hold it."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"`{path}` is declared `{encoding}`, which cannot hold the new metadata: {exc.reason}",
            context={"path": path},
        ) from exc


def edit(path: str | os.PathLike[str], change: Edit) -> ScriptMetadata:
    """Apply one edit to the file and write it atomically; the metadata it then declares."""
    path = Path(path)
    text, encoding, _ = _load(path)
    new_text, meta = document.apply_edit(text, path, change)
    if new_text != text:
        write_atomic(path, encode(path, new_text, encoding))
    return meta


def add_dependencies(
    path: str | os.PathLike[str],
    requirements: Sequence[str],
    *,
    replace_same_name: bool = True,
    requires_python: str | None = None,
) -> ScriptMetadata:
    """Add requirements to the block, creating it when absent (``requires_python`` goes in a new block).

    An entry with the same normalized name and marker is replaced in place, as ``uv add``
    does; with ``replace_same_name=False`` the new requirement is added beside it.
    """
    return edit(path, AddDependencies(tuple(_strings(requirements)), replace_same_name, requires_python))


def remove_dependencies(path: str | os.PathLike[str], names: Sequence[str]) -> ScriptMetadata:
    """Remove every entry of each name (compared normalized); a name not declared is an error."""
    return edit(path, RemoveDependencies(tuple(_strings(names))))


def set_requires_python(path: str | os.PathLike[str], specifier: str) -> ScriptMetadata:
    """Set ``requires-python`` (creating the block when absent)."""
    return edit(path, SetRequiresPython(specifier))


def set_tool_table(path: str | os.PathLike[str], dotted_key: str, value: Any) -> ScriptMetadata:
    """Set ``tool.<dotted_key>`` as uv writes it (``[[tool.uv.index]]``, ``[tool.uv.sources]`` inline tables).

    ``value`` is plain data; a mapping set where a table exists updates it key by key, and
    None removes the key. Read-modify-write with ``tool_value(meta, key)``.
    """
    return edit(path, SetToolTable(dotted_key, value))


def _strings(values: Sequence[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else list(values)
