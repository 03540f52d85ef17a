"""A notebook's lock, kept inside the notebook: ``metadata.pyx.pylock`` holds the PEP 751 text.

A notebook is often shared alone (mailed, uploaded, opened from a URL): a lock beside it is
lost on the way, a lock inside it travels with it. juv keeps uv's lock in the notebook
metadata for the same reason. The text is the same ``pylock.toml`` pyx writes for projects,
so ``pyx lock`` / ``pyx sync`` treat it exactly like a lock file.

Writing re-serializes the notebook only in a format that reproduces the file as it was
(JupyterLab's: sorted keys, one-space indent, non-ASCII kept, trailing newline; and the other
common ones); a notebook saved in a layout pyx cannot reproduce is refused rather than
reformatted, and the caller writes the lock beside it instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyx_server.engine.errors import InlineMetadataError, Location

KEY = "pyx"
LOCK_KEY = "pylock"

#: (indent, sort_keys, ensure_ascii) layouts tried, JupyterLab's first
_LAYOUTS = [(1, True, False), (1, False, False), (2, True, False), (2, False, False), (1, True, True),
            (2, False, True), (4, False, False), (4, True, False)]


#: the last notebook read: (path, size, mtime) -> its lock text (one sync asks two or three times)
_LAST: dict[tuple[str, int, int], str | None] = {}


def read_lock_text(path: Path) -> str | None:
    """The lock stored in the notebook at ``path``, or None."""
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _LAST:
        return _LAST[key]
    text = lock_text_in(_read(path), path)
    if key is not None:
        _LAST.clear()
        _LAST[key] = text
    return text


def write_lock_text(path: Path, text: str | None) -> bool:
    """Store (or with None, remove) the lock in the notebook; False when its layout is unknown."""
    path = Path(path)
    _LAST.clear()  # a rewrite may keep the size, and a coarse clock the mtime
    original = _read(path)
    updated = with_lock_text(original, text, path)
    if updated is None:
        return False
    if updated != original:
        from pyx_server.engine.edits import write_atomic  # writing only: reading stays light

        write_atomic(path, updated.encode("utf-8"))
    return True


def lock_text_in(notebook_text: str, path: Path | str = "notebook.ipynb") -> str | None:
    """The lock held in a notebook's JSON text (an editor's unsaved buffer), or None."""
    document = _parse(Path(path), notebook_text)
    value = document.get("metadata", {}).get(KEY, {})  # _parse checked that metadata is an object
    text = value.get(LOCK_KEY) if isinstance(value, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def with_lock_text(notebook_text: str, text: str | None, path: Path | str = "notebook.ipynb") -> str | None:
    """The notebook's JSON text with its lock set to ``text`` (None removes it), in the layout
    it was saved in; None when that layout cannot be reproduced (pure: nothing is written)."""
    document = _parse(Path(path), notebook_text)
    layout = _layout_of(notebook_text, document)
    if layout is None:
        return None
    metadata = document.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        return None
    section = metadata.get(KEY) if isinstance(metadata.get(KEY), dict) else {}
    if text is None:
        section.pop(LOCK_KEY, None)
    else:
        section[LOCK_KEY] = text
    if section:
        metadata[KEY] = section
    else:
        metadata.pop(KEY, None)
    return _dump(document, layout)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InlineMetadataError(f"the notebook cannot be read: {reason}", location=Location(str(path))) from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The notebook's JSON object; malformed JSON or ``metadata`` is an ``InlineMetadataError``."""
    from pyx_server.engine.inline.notebook import NotebookProblem, load_json

    try:
        return load_json(text)
    except NotebookProblem as problem:
        raise InlineMetadataError(
            problem.message,
            location=Location(str(path), problem.line, problem.column),
            hints=["a notebook must be nbformat 4 JSON, as Jupyter saves it"],
        ) from None


def _dump(document: Any, layout: tuple[int, bool, bool, bool]) -> str:
    indent, sort_keys, ensure_ascii, newline = layout
    return json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + ("\n" if newline else "")


def _layout_of(text: str, document: Any) -> tuple[int, bool, bool, bool] | None:
    newline = text.endswith("\n")
    for indent, sort_keys, ensure_ascii in _LAYOUTS:
        layout = (indent, sort_keys, ensure_ascii, newline)
        if _dump(document, layout) == text:
            return layout
    return None
