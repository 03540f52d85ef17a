"""File edits as data, and the one writer that applies them.

The use cases never write a declaration or a lock behind a front's back: they return
``FileEdit`` values (the path, the new text, and the bytes that text is saved as). A front
that owns the open document (JupyterLab's notebook model, an editor buffer) applies
``new_text`` itself; the others hand the edits to ``apply_edits``, which writes them all or,
when one fails, none (files already replaced are put back as they were).

Every write is atomic: a temporary file in the same directory replaces the target in one
``os.replace``, keeping its permission bits and following a symbolic link to the file it
points to.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyx_server.engine.errors import UsageError


@dataclass(frozen=True)
class FileEdit:
    """The whole new content of one file, as text (for a front's buffer) and as the bytes to
    save (the file's own encoding and BOM kept). ``old_text`` is what the edit was made
    from (None: the file is created), so a front can tell whether its buffer moved on."""

    path: Path
    new_text: str
    data: bytes
    old_text: str | None
    #: what the file is to the operation: "declaration" (a script, notebook or pyproject.toml)
    #: or "lock" (a pylock.toml, or a notebook's metadata holding one)
    role: str = "declaration"

    @classmethod
    def of_text(cls, path: Path, new_text: str, old_text: str | None, role: str = "declaration") -> FileEdit:
        """An edit of a UTF-8 file (TOML, JSON)."""
        return cls(Path(path), new_text, new_text.encode("utf-8"), old_text, role)

    @property
    def changes(self) -> bool:
        return self.old_text != self.new_text

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "role": self.role, "new_text": self.new_text,
                "created": self.old_text is None}


def merge(edits: Sequence[FileEdit]) -> list[FileEdit]:
    """One edit per path: a later edit of a path already edited replaces the earlier one,
    keeping the earlier one's ``old_text`` (what the file held before all of them)."""
    by_path: dict[Path, FileEdit] = {}
    for edit in edits:
        earlier = by_path.get(edit.path)
        if earlier is not None:
            edit = FileEdit(edit.path, edit.new_text, edit.data, earlier.old_text, edit.role)
        by_path[edit.path] = edit
    return [e for e in by_path.values() if e.changes]


def apply_edits(edits: Sequence[FileEdit]) -> None:
    """Write every edit, or none: when a write fails, the files already written get their
    previous bytes back (a created file is removed), and the failure is raised."""
    done: list[tuple[Path, bytes | None]] = []
    try:
        for edit in merge(edits):
            target = Path(os.path.realpath(edit.path))
            try:
                before = target.read_bytes()
            except FileNotFoundError:
                before = None
            write_atomic(target, edit.data)
            done.append((target, before))
    except BaseException:
        for target, before in reversed(done):
            with contextlib.suppress(OSError, UsageError):
                if before is None:
                    target.unlink()
                else:
                    write_atomic(target, before)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step, keeping its permission bits (a new file
    gets the umask's); follows symlinks."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".pyx-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write `{path}`: {exc.strerror or exc}", context={"path": path}) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
